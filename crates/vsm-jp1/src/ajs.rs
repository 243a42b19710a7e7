//! JP1/AJS3: the `ajsdefine` unit definition for scheduled start and stop of a unit.
//!
//! [`ajs_jobnet`] renders a job group `VSM_<unit>` holding two root jobnets, `START` and `STOP`,
//! each with one daily schedule rule and one Unix job that runs `vsm unit start|stop NAME
//! --timeout … --wait …`. Two root jobnets (rather than one jobnet with two jobs) let each action
//! keep its own start time, also when the stop time is past midnight. The end judgement
//! `jd=cod; wth=0; tho=1;` maps vsm's exit codes: 0 normal, 1 warning, 2 (exclusion: the unit
//! stayed busy longer than `--wait`) and every abnormal code (64 and up) abnormal, so a scheduled
//! start that did not happen is visible and can be rerun. The rendering is pure and validates
//! every name, time and path it writes; thresholds and schedule syntax that the manuals did not
//! confirm come from [`crate::unverified`].

use std::fmt;
use std::str::FromStr;

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};
use vsm_core::{NameError, UnitName};

use crate::shorten::fit_with;
use crate::unverified;

/// Longest AJS unit name, in bytes.
pub const MAX_UNIT_NAME_BYTES: usize = 30;
/// Longest execution agent name vsm accepts, in bytes.
pub const MAX_AGENT_BYTES: usize = 255;
/// Longest OS user name (`un=`) vsm accepts, in bytes.
pub const MAX_OS_USER_BYTES: usize = 63;
/// Longest JP1 user name (unit owner) vsm accepts, in bytes.
pub const MAX_JP1_USER_BYTES: usize = 31;
/// Longest job time-out (`etm=`), in minutes.
pub const MAX_ETM_MINUTES: u64 = 1440;
/// Minutes added to `--timeout` plus `--wait` for the job's own time-out (`etm=`), so vsm's own
/// time-out (exit 75) normally fires first.
pub const ETM_MARGIN_MINUTES: u64 = 5;
/// Where the `vsm` binary is by default.
pub const DEFAULT_VSM_PATH: &str = "/usr/local/bin/vsm";

/// A time of day `HH:MM` (00:00–23:59).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    /// A time from hour (0–23) and minute (0–59).
    pub fn new(hour: u8, minute: u8) -> Result<Self, AjsError> {
        if hour < 24 && minute < 60 {
            Ok(TimeOfDay { hour, minute })
        } else {
            Err(AjsError::Time {
                value: format!("{hour}:{minute}"),
            })
        }
    }

    /// The hour.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute.
    pub fn minute(self) -> u8 {
        self.minute
    }
}

impl FromStr for TimeOfDay {
    type Err = AjsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AjsError::Time {
            value: s.to_owned(),
        };
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
            return Err(bad());
        }
        let hour = (b[0] - b'0') * 10 + (b[1] - b'0');
        let minute = (b[3] - b'0') * 10 + (b[4] - b'0');
        TimeOfDay::new(hour, minute).map_err(|_| bad())
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = AjsError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// What to generate: which unit, when, where and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobnetSpec {
    /// The unit to start and stop.
    pub unit: UnitName,
    /// When to start it every day.
    pub start: TimeOfDay,
    /// When to stop it every day.
    pub stop: TimeOfDay,
    /// The execution agent (`ex=`); `None` runs the jobs on the manager host's default agent.
    pub agent: Option<String>,
    /// The `vsm` binary on the agent (default [`DEFAULT_VSM_PATH`]).
    pub vsm_path: Utf8PathBuf,
    /// The OS user the jobs run as (`un=`); `None` leaves AJS's default (the JP1 user's mapping).
    pub os_user: Option<String>,
    /// The JP1 user that owns the units; `None` leaves it to `ajsdefine`.
    pub jp1_user: Option<String>,
    /// `--timeout SECONDS` passed to `vsm unit start|stop` (default 1800).
    pub timeout_secs: u32,
    /// `--wait SECONDS` passed to `vsm unit start|stop`: how long to wait for another operation
    /// on the unit before giving up with exit code 2 (default 600).
    pub wait_secs: u32,
    /// The job group's name; `None` derives `VSM_<unit>` (shortened to 30 bytes if needed).
    pub group_name: Option<String>,
    /// An environment file for the jobs (`ev=`), e.g. one that sets `VSM_URL`.
    pub env_file: Option<Utf8PathBuf>,
}

impl JobnetSpec {
    /// A spec with the defaults for everything but the unit and the times.
    pub fn new(unit: UnitName, start: TimeOfDay, stop: TimeOfDay) -> Self {
        JobnetSpec {
            unit,
            start,
            stop,
            agent: None,
            vsm_path: DEFAULT_VSM_PATH.into(),
            os_user: None,
            jp1_user: None,
            timeout_secs: 1800,
            wait_secs: 600,
            group_name: None,
            env_file: None,
        }
    }
}

/// Why a jobnet definition cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AjsError {
    /// A time is not `HH:MM` within 00:00–23:59.
    #[error("time {value:?} is invalid: write HH:MM between 00:00 and 23:59, e.g. 08:30")]
    Time {
        /// The refused value.
        value: String,
    },
    /// The unit name is not a valid vsm unit name.
    #[error(transparent)]
    Unit(#[from] NameError),
    /// Start and stop are the same time.
    #[error("start and stop are both {time}: give different times")]
    SameTimes {
        /// The time given twice.
        time: TimeOfDay,
    },
    /// A name breaks the rules of its field.
    #[error("{field} {value:?} is invalid: use {rule}")]
    Name {
        /// Which field (`agent`, `os user`, …).
        field: &'static str,
        /// The refused value.
        value: String,
        /// What is allowed.
        rule: &'static str,
    },
    /// A path cannot be written into the definition.
    #[error("{field} {value:?} is invalid: {problem}")]
    Path {
        /// Which field.
        field: &'static str,
        /// The refused value.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The time-out and wait are too long for a job.
    #[error(
        "--timeout plus --wait come to {minutes} minutes with the margin, a job may run at most 1440; shorten them"
    )]
    TooLong {
        /// The job time-out that would be needed.
        minutes: u64,
    },
}

fn check_chars(
    field: &'static str,
    value: &str,
    max: usize,
    extra: &[u8],
    rule: &'static str,
) -> Result<(), AjsError> {
    let ok = !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AjsError::Name {
            field,
            value: value.to_owned(),
            rule,
        })
    }
}

fn check_path(field: &'static str, path: &Utf8PathBuf) -> Result<(), AjsError> {
    let value = path.as_str();
    let bad = |problem| AjsError::Path {
        field,
        value: value.to_owned(),
        problem,
    };
    if !path.is_absolute() {
        return Err(bad("give an absolute path"));
    }
    if value.len() > unverified::AJS_MAX_SCRIPT_PATH_BYTES {
        return Err(bad("it is longer than 511 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    Ok(())
}

/// Escapes a value for `key="…"`: `#` becomes `##` and `"` becomes `#"`.
pub fn escape(value: &str) -> String {
    value.replace('#', "##").replace('"', "#\"")
}

/// The job group name used for `unit`: `VSM_<unit>`, shortened with a hash suffix to 30 bytes.
pub fn default_group_name(unit: &UnitName) -> String {
    fit_with(&format!("VSM_{unit}"), MAX_UNIT_NAME_BYTES, '_')
}

/// `vsm jp1 ajs-jobnet --unit NAME --start HH:MM --stop HH:MM [--agent HOST]`: parses the
/// command-line values and renders the definition with every other setting at its default.
pub fn ajs_jobnet_from_args(
    unit: &str,
    start: &str,
    stop: &str,
    agent: Option<&str>,
) -> Result<String, AjsError> {
    let mut spec = JobnetSpec::new(UnitName::new(unit)?, start.parse()?, stop.parse()?);
    spec.agent = agent.map(str::to_owned);
    ajs_jobnet(&spec)
}

/// Renders the `ajsdefine` unit definition for `spec` (see the module documentation).
pub fn ajs_jobnet(spec: &JobnetSpec) -> Result<String, AjsError> {
    const NAME_RULE: &str = "1 to 30 bytes of A-Z, a-z, 0-9, '_' and '-'";
    if spec.start == spec.stop {
        return Err(AjsError::SameTimes { time: spec.start });
    }
    let group = match &spec.group_name {
        Some(g) => {
            check_chars("job group name", g, MAX_UNIT_NAME_BYTES, b"_-", NAME_RULE)?;
            g.clone()
        }
        None => default_group_name(&spec.unit),
    };
    if let Some(a) = &spec.agent {
        check_chars(
            "agent",
            a,
            MAX_AGENT_BYTES,
            b"._-",
            "a host name: 1 to 255 bytes of letters, digits, '.', '_' and '-'",
        )?;
    }
    if let Some(u) = &spec.os_user {
        check_chars(
            "os user",
            u,
            MAX_OS_USER_BYTES,
            b"._-",
            "1 to 63 bytes of letters, digits, '.', '_' and '-'",
        )?;
    }
    if let Some(u) = &spec.jp1_user {
        check_chars(
            "JP1 user",
            u,
            MAX_JP1_USER_BYTES,
            b"._-@",
            "1 to 31 bytes of letters, digits, '.', '_', '-' and '@'",
        )?;
    }
    check_path("vsm path", &spec.vsm_path)?;
    if let Some(ev) = &spec.env_file {
        check_path("environment file", ev)?;
    }
    let etm = (u64::from(spec.timeout_secs) + u64::from(spec.wait_secs)).div_ceil(60)
        + ETM_MARGIN_MINUTES;
    if etm > MAX_ETM_MINUTES {
        return Err(AjsError::TooLong { minutes: etm });
    }

    let owner = spec.jp1_user.as_deref().unwrap_or("");
    let unit_line = |name: &str| format!("unit={name},,{owner},;");
    let mut out = Vec::<String>::new();
    out.push(format!(
        "/* vsm: daily start at {} and stop at {} of unit {}; generated by vsm jp1 ajs-jobnet */",
        spec.start, spec.stop, spec.unit
    ));
    out.push(
        "/* end judgement: exit 0 normal, 1 warning, 2 (unit busy) and above abnormal; check with ajsdefine -t */"
            .to_owned(),
    );
    out.push(unit_line(&group));
    out.push("{".into());
    out.push("  ty=g;".into());
    let actions = [("START", "start", spec.start), ("STOP", "stop", spec.stop)];
    for (i, (name, _, _)) in actions.iter().enumerate() {
        out.push(format!(
            "  el={name},n,{};",
            unverified::ajs_icon_position(i)
        ));
    }
    for (name, verb, at) in actions {
        out.push(format!("  {}", unit_line(name)));
        out.push("  {".into());
        out.push("    ty=n;".into());
        out.push("    sd=1,en;".into());
        out.push(format!("    st=1,{at};"));
        out.push(format!("    {}", unverified::AJS_DAILY_CYCLE));
        out.push(format!(
            "    el={name},j,{};",
            unverified::ajs_icon_position(0)
        ));
        out.push(format!("    {}", unit_line(name)));
        out.push("    {".into());
        out.push("      ty=j;".into());
        out.push(format!("      sc=\"{}\";", escape(spec.vsm_path.as_str())));
        out.push(format!(
            "      prm=\"{}\";",
            escape(&format!(
                "unit {verb} {} --timeout {} --wait {}",
                spec.unit, spec.timeout_secs, spec.wait_secs
            ))
        ));
        if let Some(a) = &spec.agent {
            out.push(format!("      ex=\"{}\";", escape(a)));
        }
        if let Some(u) = &spec.os_user {
            out.push(format!("      un=\"{}\";", escape(u)));
        }
        if let Some(ev) = &spec.env_file {
            out.push(format!("      ev=\"{}\";", escape(ev.as_str())));
        }
        out.push("      jd=cod;".into());
        out.push(format!("      wth={};", unverified::AJS_WARNING_THRESHOLD));
        out.push(format!("      tho={};", unverified::AJS_ABNORMAL_THRESHOLD));
        out.push(format!("      etm={etm};"));
        out.push("    }".into());
        out.push("  }".into());
    }
    out.push("}".into());
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(unit: &str, start: &str, stop: &str) -> JobnetSpec {
        JobnetSpec::new(
            UnitName::new(unit).expect("valid unit"),
            start.parse().expect("valid time"),
            stop.parse().expect("valid time"),
        )
    }

    #[test]
    fn times() {
        for ok in ["00:00", "08:30", "23:59"] {
            assert_eq!(ok.parse::<TimeOfDay>().expect(ok).to_string(), ok);
        }
        for bad in [
            "24:00", "8:30", "08:60", "0830", "08:3a", " 08:30", "", "08:30:00",
        ] {
            assert_eq!(
                bad.parse::<TimeOfDay>(),
                Err(AjsError::Time {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn default_jobnet() {
        let text = ajs_jobnet(&spec("shop", "08:00", "20:00")).expect("renders");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn full_jobnet_overnight() {
        let mut s = spec("shop", "20:30", "06:15");
        s.agent = Some("hv01.example.com".into());
        s.os_user = Some("vsm".into());
        s.jp1_user = Some("jp1admin".into());
        s.vsm_path = "/opt/vsm #2/bin/\"vsm\"".into();
        s.env_file = Some("/etc/vsm/ajs.env".into());
        s.timeout_secs = 3600;
        s.wait_secs = 0;
        let text = ajs_jobnet(&s).expect("renders");
        assert!(
            text.contains(r##"sc="/opt/vsm ##2/bin/#"vsm#"";"##),
            "{text}"
        );
        insta::assert_snapshot!(text);
    }

    #[test]
    fn long_unit_names_are_shortened_uniquely() {
        let a = "a-very-long-unit-name-number-01";
        let b = "a-very-long-unit-name-number-02";
        let ga = default_group_name(&UnitName::new(a).expect("valid"));
        let gb = default_group_name(&UnitName::new(b).expect("valid"));
        assert_eq!(ga.len(), 30);
        assert_ne!(ga, gb);
        assert!(ga.starts_with("VSM_a-very-long-unit-na_"), "{ga}");
        let text = ajs_jobnet(&spec(a, "08:00", "20:00")).expect("renders");
        assert!(text.contains(&format!("unit={ga},,,;")));
        assert!(text.contains(&format!("prm=\"unit start {a} --timeout")));
    }

    #[test]
    fn from_command_line_values() {
        let text = ajs_jobnet_from_args("shop", "08:00", "20:00", Some("hv01")).expect("renders");
        assert!(text.contains("ex=\"hv01\";"));
        assert_eq!(
            ajs_jobnet_from_args("shop", "08:00", "20:00", None).expect("renders"),
            ajs_jobnet(&spec("shop", "08:00", "20:00")).expect("renders")
        );
        let err = ajs_jobnet_from_args("Shop", "08:00", "20:00", None).expect_err("bad unit");
        assert!(matches!(err, AjsError::Unit(_)), "{err}");
        let err = ajs_jobnet_from_args("shop", "8:00", "20:00", None).expect_err("bad time");
        assert!(matches!(err, AjsError::Time { .. }), "{err}");
    }

    #[test]
    fn refusals() {
        let s = spec("shop", "08:00", "08:00");
        assert!(matches!(ajs_jobnet(&s), Err(AjsError::SameTimes { .. })));

        let check = |f: &dyn Fn(&mut JobnetSpec), field: &str| {
            let mut s = spec("shop", "08:00", "20:00");
            f(&mut s);
            let err = ajs_jobnet(&s).expect_err("refused");
            let text = err.to_string();
            assert!(text.starts_with(field), "{field}: {text}");
        };
        check(&|s| s.group_name = Some("x".repeat(31)), "job group name");
        check(
            &|s| s.group_name = Some("VSM/shop".into()),
            "job group name",
        );
        check(&|s| s.group_name = Some(String::new()), "job group name");
        check(&|s| s.agent = Some("hv01;rm".into()), "agent");
        check(&|s| s.agent = Some("h".repeat(256)), "agent");
        check(&|s| s.os_user = Some("a b".into()), "os user");
        check(&|s| s.jp1_user = Some("x".repeat(32)), "JP1 user");
        check(&|s| s.vsm_path = "bin/vsm".into(), "vsm path");
        check(&|s| s.vsm_path = "/bin/v\nsm".into(), "vsm path");
        check(&|s| s.env_file = Some("env".into()), "environment file");
        check(&|s| s.timeout_secs = 86_400, "--timeout");
        // Right at the limit: (1435 - 5) minutes of timeout + wait is fine.
        let mut s = spec("shop", "08:00", "20:00");
        s.timeout_secs = 1435 * 60 - 5 * 60;
        s.wait_secs = 0;
        assert!(ajs_jobnet(&s).is_ok());
    }

    #[test]
    fn thresholds_match_the_exit_codes() {
        // With jd=cod, abnormal when code > tho, warning when code > wth (see `unverified`).
        let judge = |code: u32| {
            if code > unverified::AJS_ABNORMAL_THRESHOLD {
                "abnormal"
            } else if code > unverified::AJS_WARNING_THRESHOLD {
                "warning"
            } else {
                "normal"
            }
        };
        use crate::exit_code as c;
        assert_eq!(judge(c::SUCCESS.into()), "normal");
        assert_eq!(judge(c::WARNING.into()), "warning");
        assert_eq!(judge(c::EXCLUSION.into()), "abnormal");
        for code in [c::FIRST_ABNORMAL, c::FAILED, c::TIMED_OUT, 77] {
            assert_eq!(judge(code.into()), "abnormal");
        }
    }
}
