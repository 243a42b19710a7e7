//! Every JP1 detail that the public manuals did not confirm, in one place.
//!
//! Each constant here was composed from the grammar or inferred from excerpts of Hitachi's
//! manuals (see `/work/shared/jp1-formats.md` and `docs/jp1.md`, "Unverified details"), not
//! checked on a real JP1 host. Nothing else in this crate hard-codes such a detail: when a real
//! host shows one of them to be wrong, this module is the only code that changes. This module must
//! not contain anything that *is* confirmed (those limits live next to the code that checks them).

// ---------------------------------------------------------------------------------------------
// JP1/IM events
// ---------------------------------------------------------------------------------------------

/// `OCCURRENCE` for "the manager started". `START` is used by Hitachi products (JP1/AIM).
pub const OCCURRENCE_MANAGER_STARTED: &str = "START";
/// `OCCURRENCE` for "the manager stopped". `END` is used by Hitachi products; the full list of
/// well-known values in *JP1/Base User's Guide* 17.1.2 was cut off in the excerpt.
pub const OCCURRENCE_MANAGER_STOPPED: &str = "END";
/// `OCCURRENCE` for "a server failed". A vsm-specific value: whether JP1/IM has a well-known
/// value for failures was not found.
pub const OCCURRENCE_SERVER_FAILED: &str = "FAILURE";
/// `OCCURRENCE` for "a server recovered" (vsm-specific value).
pub const OCCURRENCE_SERVER_RECOVERED: &str = "RECOVERY";
/// `OCCURRENCE` for "an operation ended", whatever its result (`RESULT_CODE` tells which).
pub const OCCURRENCE_OPERATION_ENDED: &str = "END";
/// `OCCURRENCE` for "a login was refused" (vsm-specific value).
pub const OCCURRENCE_LOGIN_FAILED: &str = "LOGIN";
/// `OCCURRENCE` for "a server of a lost host was restarted on another host" (vsm-specific
/// value).
pub const OCCURRENCE_SERVER_MOVED: &str = "MOVE";
/// `OCCURRENCE` for "a hypervisor host is down" (the same vsm-specific value as a failed server).
pub const OCCURRENCE_HOST_DOWN: &str = "FAILURE";
/// `OCCURRENCE` for "a down host answers again" (the same vsm-specific value as a recovered
/// server).
pub const OCCURRENCE_HOST_RETURNED: &str = "RECOVERY";

// ---------------------------------------------------------------------------------------------
// JP1/Base log-file trap (action definition file)
// ---------------------------------------------------------------------------------------------

/// `FILETYPE=` for the trap log: a sequential file that only grows (vsm never rotates it).
pub const LOGTRAP_FILETYPE: &str = "SEQ";
/// `RECTYPE=` for the trap log: variable-length records ended by `\n`. The quoting of `'\n'`
/// follows the grammar in the v12 manual (BASE0426); the exact spelling is unverified.
pub const LOGTRAP_RECTYPE: &str = r"VAR '\n'";
/// How an event ID is written after the severity in an `ACTDEF=` line: 8 upper-case hex digits
/// without `0x` (as in the manual's examples, which did not show a user-range ID).
pub fn actdef_event_id(id: u32) -> String {
    format!("{id:08X}")
}
/// Bytes of one trap-log line that JP1/Base turns into the event message by default
/// (`jevlogstart -m` default 512 bytes including the terminator, so 511 characters). Longer lines
/// are truncated by vsm so that nothing depends on JP1/Base's own cutting.
pub const LOGTRAP_MAX_LINE_BYTES: usize = 511;

// ---------------------------------------------------------------------------------------------
// JP1/AJS3 unit definitions (ajsdefine)
// ---------------------------------------------------------------------------------------------

/// End judgement `jd=cod`: the job is *abnormal* when `code > tho`, else *warning* when
/// `code > wth`, else *normal*. The excerpt was cut before the parameter text, so whether the
/// comparisons are `>` or `>=` is unverified. With `>`: 0 normal, 1 warning, 2 and above abnormal.
pub const AJS_WARNING_THRESHOLD: u32 = 0;
/// The abnormal threshold that goes with [`AJS_WARNING_THRESHOLD`]; see there.
pub const AJS_ABNORMAL_THRESHOLD: u32 = 1;
/// Schedule rule of a root jobnet that runs every day from the day it is registered:
/// `sd=1,en;` (start date: entry day), then `st=1,HH:MM;` and this cycle. The `cy=` spelling is
/// taken from `ajsprint` output seen in third-party parsers, not from the manual.
pub const AJS_DAILY_CYCLE: &str = "cy=1,(1,d);";
/// Longest script path vsm writes into `sc="…";`, in bytes (a conservative choice: the manual
/// excerpt gave 1,023 bytes only for `te=` command text).
pub const AJS_MAX_SCRIPT_PATH_BYTES: usize = 511;
/// Icon position of the n-th (0-based) child in a jobnet map: `+H +V` with `H = 80 + 160 n`,
/// `V = 48`. Whether a blank separates the two numbers is unverified (both forms are seen).
pub fn ajs_icon_position(n: usize) -> String {
    format!("+{} +48", 80 + 160 * n)
}

// ---------------------------------------------------------------------------------------------
// JP1/PFM user records (jpcuser)
// ---------------------------------------------------------------------------------------------

/// The option header line of the user-created data vsm writes for `PI_UPI`, one option per
/// field in data-line order: Trans Type, Trans String Key, Trans Data Key, User Long 1 and 2,
/// four short strings. `tt`, `ks`, `ki`, `l` and `ss` were seen in the manual; that an option may
/// repeat to fill the next slot (`l l`, `ss ss …`) is inferred from the field list.
pub const PFM_PI_UPI_HEADER: &str = "tt ks ki l l ss ss ss ss";
/// Longest value of a short-string field (`ss`, User String 1–4), in bytes (inferred).
pub const PFM_SHORT_STRING_MAX: usize = 16;
/// How a data line separates fields. The manual excerpt did not say how a value with blanks is
/// quoted, so vsm never writes a blank inside a value (it replaces blanks with `_`).
pub const PFM_FIELD_SEPARATOR: &str = " ";
