//! Login rate limiting, owner-only permissions, loopback by default, no passwords in logs.
