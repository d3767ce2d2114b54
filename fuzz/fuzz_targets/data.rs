//! Feeds arbitrary bytes to the data-file readers (`.npy` and CSV tables,
//! matrices) and to what the runtime asks of a table (indices, finite
//! values, row names): every input must give a table or an error, never a
//! panic, an abort or a huge allocation. The first byte picks the reader.
//! Its corpus is kept in `fuzz/corpus/data`; `tests/fuzz_corpora.rs`
//! replays it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    circ_runtime::data::exercise(data);
});
