//! vsm-core: placeholder, filled by its issue.
