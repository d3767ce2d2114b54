//! `circ run --nwb`: what the NWB writer (circ-nwb) needs from the command
//! line: the time the run started, as ISO 8601 in UTC, and fresh random
//! ids (the library reads no clock or entropy).

use std::hash::{BuildHasher, Hasher};

/// Now, as `2026-12-05T16:04:05+00:00`.
pub fn now_iso8601() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// 128 random bits (std's randomly keyed hasher over a counter and the
/// time): object ids, not cryptography.
fn random_u128(counter: &mut u64) -> u128 {
    let state = std::collections::hash_map::RandomState::new();
    let mut word = || {
        *counter += 1;
        let mut h = state.build_hasher();
        h.write_u64(*counter);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    };
    (u128::from(word()) << 64) | u128::from(word())
}

/// The NWB file of a run.
pub fn render(
    layout: &circ_runtime::NetLayout,
    result: &circ_runtime::RunResult,
    info: &circ_runtime::output::RunInfo,
    model_text: &str,
    start: &str,
) -> Result<Vec<u8>, String> {
    let mut counter = 0u64;
    let mut ids = || random_u128(&mut counter);
    let mut meta = circ_nwb::Meta {
        model_text,
        start_time: start,
        ids: &mut ids,
    };
    circ_nwb::render(layout, result, info, &mut meta)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_iso_8601() {
        let now = super::now_iso8601();
        assert_eq!(now.len(), 25, "{now}");
        assert!(now.starts_with("20") && now.ends_with("+00:00"), "{now}");
        assert_eq!(&now[4..5], "-");
        assert_eq!(&now[10..11], "T");
    }
}
