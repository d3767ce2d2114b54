//! Feeds arbitrary text to the whole front end (parse, check, render) and
//! relies on libFuzzer to report panics, hangs and stack overflows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let (map, analysis) = circ_sema::check_source("fuzz.circ", src);
        let _ = circ_diag::render_all_text(&analysis.diagnostics, &map, false);
        let _ = circ_diag::render_json(&analysis.diagnostics, &map);
    }
});
