//! vsm-deploy: placeholder, filled by its issue.
