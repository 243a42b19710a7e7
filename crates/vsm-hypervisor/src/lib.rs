//! vsm-hypervisor: placeholder, filled by its issue.
