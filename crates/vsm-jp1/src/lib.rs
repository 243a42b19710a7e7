//! vsm-jp1: placeholder, filled by its issue.
