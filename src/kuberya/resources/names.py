"""The syntax rules Kubernetes applies to names: re-exported from :mod:`kuberya.meta.names`.

They moved to the shared leaf package because the label selectors every layer matches with
(:mod:`kuberya.meta.labels`) need them too.
"""

from kuberya.meta.names import (
    DNS1035_LABEL_FMT,
    DNS1123_LABEL_FMT,
    DNS1123_SUBDOMAIN_FMT,
    LABEL_VALUE_FMT,
    QUALIFIED_NAME_FMT,
    config_key_errors,
    dns1035_label_errors,
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_value_errors,
    max_len_error,
    path_segment_errors,
    qualified_name_errors,
    regex_error,
)

__all__ = [
    "DNS1035_LABEL_FMT",
    "DNS1123_LABEL_FMT",
    "DNS1123_SUBDOMAIN_FMT",
    "LABEL_VALUE_FMT",
    "QUALIFIED_NAME_FMT",
    "config_key_errors",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "label_value_errors",
    "max_len_error",
    "path_segment_errors",
    "qualified_name_errors",
    "regex_error",
]
