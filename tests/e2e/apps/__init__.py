"""Small programs the end-to-end tests run as pods, and the load that drives them."""
