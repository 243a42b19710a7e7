//! vsm-manager: placeholder, filled by its issue.
