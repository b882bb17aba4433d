"""Names shared by the CRD, the operator and the tools: one place, so they never disagree."""

GROUP = "aiconform.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ConformanceProfile"
PLURAL = "conformanceprofiles"
SINGULAR = "conformanceprofile"
SHORT_NAMES = ("cprof",)
CRD_NAME = f"{PLURAL}.{GROUP}"

FIELD_MANAGER = "aiconform"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PROFILE = f"{GROUP}/profile"
LABEL_COMPONENT = "app.kubernetes.io/component"  # which component made one of our objects
MANAGED_BY_VALUE = "aiconform"
FINALIZER = f"{GROUP}/cleanup"

# Condition types written on every profile besides the one-per-requirement ones.
CONDITION_READY = "Ready"
CONDITION_CONFORMANT = "Conformant"
PROFILE_NAME_MAX = 63  # the profile name is a label value (aiconform.io/profile) on everything it makes
