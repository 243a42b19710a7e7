//! Fitting names into JP1's short fields: truncation plus a short, stable hash suffix.
//!
//! JP1 keys and names are shorter than vsm's names (a PFM string key holds 20 bytes, an AJS unit
//! name 30). A name that fits is used unchanged; a longer one keeps its first bytes and ends in
//! `~` and 6 hex digits of an FNV-1a hash of the *whole* name, so different long names stay
//! different (callers still check uniqueness, since 24 bits can collide). This module does no IO.

/// The 32-bit FNV-1a hash of `bytes`: stable across runs, platforms and Rust versions.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Length of the suffix added to a shortened name: `~` and 6 hex digits.
pub const SUFFIX_LEN: usize = 7;

/// `value` if it is at most `max` bytes long, else its first bytes (cut at a character boundary)
/// followed by `~` and 6 hex digits of the hash of all of `value`; the result is at most `max`
/// bytes. `max` must be larger than [`SUFFIX_LEN`].
pub fn fit(value: &str, max: usize) -> String {
    fit_with(value, max, '~')
}

/// Like [`fit`], with `sep` instead of `~` before the hash (for fields that allow fewer
/// characters). `sep` must be ASCII.
pub fn fit_with(value: &str, max: usize, sep: char) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let keep = floor_char_boundary(value, max.saturating_sub(SUFFIX_LEN));
    let hash = fnv1a32(value.as_bytes()) & 0x00ff_ffff;
    format!("{}{sep}{hash:06x}", &value[..keep])
}

/// The largest index `<= at` that is a character boundary of `s`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    let mut i = at;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    &s[..floor_char_boundary(s, max)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_are_kept() {
        assert_eq!(fit("shop/web/web1", 20), "shop/web/web1");
    }

    #[test]
    fn long_values_get_a_hash_suffix() {
        let a = fit("a-very-long-unit-name/web/web-server-1", 20);
        let b = fit("a-very-long-unit-name/web/web-server-2", 20);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("a-very-long-u~"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn fnv_is_the_reference_function() {
        // Reference values of FNV-1a 32.
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    proptest! {
        #[test]
        fn fit_respects_the_limit_and_char_boundaries(s in "\\PC{0,60}", max in 8usize..40) {
            let out = fit(&s, max);
            prop_assert!(out.len() <= max);
            if s.len() <= max { prop_assert_eq!(&out, &s); }
        }

        #[test]
        fn truncate_never_splits_a_character(s in "\\PC{0,60}", max in 0usize..80) {
            let out = truncate_utf8(&s, max);
            prop_assert!(out.len() <= max);
            prop_assert!(s.starts_with(out));
        }
    }
}
