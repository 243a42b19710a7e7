//! vsm's documented exit codes, as far as JP1 needs them (`RESULT_CODE` of operation events and
//! the end judgement of JP1/AJS jobs). The CLI owns the full table (SPEC "exit codes"); this
//! module only names the values JP1 definitions are generated from and must stay equal to it.

/// Success.
pub const SUCCESS: u8 = 0;
/// Warning: partly succeeded, or done with warnings.
pub const WARNING: u8 = 1;
/// Exclusion: the unit is busy with another operation.
pub const EXCLUSION: u8 = 2;
/// The first abnormal code (invalid request); every code from here up is abnormal.
pub const FIRST_ABNORMAL: u8 = 64;
/// The operation failed.
pub const FAILED: u8 = 70;
/// Timed out waiting; the operation goes on in the manager.
pub const TIMED_OUT: u8 = 75;
