//! Feeds arbitrary text to everything `circ check` runs (parse, check,
//! lowering of the `run` item, the runtime's static checks) and to both
//! renderers, and relies on libFuzzer to report panics, hangs and stack
//! overflows. Its corpus is kept in `fuzz/corpus/check`; the stable test
//! `tests/fuzz_corpora.rs` replays it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        // A fixed memory budget: the same verdict on every machine.
        let (map, ds) = circ_lower::check_text("fuzz.circ", src, Some(1 << 30));
        let _ = circ_diag::render_all_text(&ds, &map, false);
        let _ = circ_diag::render_json(&ds, &map);
    }
});
