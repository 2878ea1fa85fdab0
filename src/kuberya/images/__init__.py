"""OCI images for kuberya: a content-addressed store, a registry client, archives and builds.

Modules by concern - :mod:`.reference` (names), :mod:`.oci` (formats and digests), :mod:`.store`
(blobs, names, unpacked layers, gc), :mod:`.layers` (safe unpacking), :mod:`.auth` and
:mod:`.registry` (the distribution API) over :mod:`.http` (the standard library's HTTP client on
worker threads) with :mod:`.transfer` (its settings and progress protocol), :mod:`.archive`
(docker-save and OCI layouts), :mod:`.compose` (images from tarballs), :mod:`.build` and
:mod:`.detect` (buildah, app detection), :mod:`.testing` (a loopback registry and offline busybox
images for tests and benchmarks) - and :mod:`.service`, the facade the CLI and the node agent use.
This package imports nothing else of kuberya.

Import what you need from the submodules; this module stays empty so that ``import kuberya.images``
costs nothing (the CLI starts on the clock).
"""
