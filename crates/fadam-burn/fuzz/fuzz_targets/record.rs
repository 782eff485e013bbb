//! Record loading never panics, and a refused record changes nothing.
//!
//! The input is the bytes of an optimizer record, or, when it starts with
//! a 0 byte, edits to a valid record (offset and value pairs), so that the
//! fuzzer reaches the state checks past the format's own.
#![no_main]

use std::sync::OnceLock;

use burn::optim::ModuleOptimizer;
use burn::tensor::{Bytes, Device};
use fadam_burn::load_checked;
use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/trained.rs"]
mod trained;

/// An optimizer after two steps of a small model, and its record.
fn saved() -> &'static (ModuleOptimizer, Vec<u8>) {
    static SAVED: OnceLock<(ModuleOptimizer, Vec<u8>)> = OnceLock::new();
    SAVED.get_or_init(|| {
        let optim = trained::trained(&Device::flex().autodiff(), 1);
        let bytes = optim.into_bytes().expect("record").to_vec();
        (optim, bytes)
    })
}

fuzz_target!(|data: &[u8]| {
    let (optim, good) = saved();
    let input = match data.split_first() {
        Some((0, edits)) => {
            let mut bytes = good.clone();
            for pair in edits.chunks_exact(3) {
                let offset = usize::from(u16::from_le_bytes([pair[0], pair[1]]));
                if let Some(b) = bytes.get_mut(offset % good.len()) {
                    *b = pair[2];
                }
            }
            bytes
        }
        _ => data.to_vec(),
    };
    let before = optim.into_bytes().expect("record").to_vec();
    let mut target = optim.clone();
    if load_checked(&mut target, Bytes::from_bytes_vec(input)).is_err() {
        let after = target.into_bytes().expect("record").to_vec();
        assert_eq!(after, before, "a refused record changed the optimizer");
    }
});
