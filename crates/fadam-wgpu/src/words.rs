//! The one definition of every word the host and the shaders share: the
//! layout of the tables (`tab`), the scratch (`work`) and the status buffer,
//! the flag bits and codes, the dispatch geometry and the binding indices.
//! [`prelude`] writes them as WGSL constants in front of every shader
//! module, so the WGSL uses the same names and values as the host.
//!
//! Words are 4 bytes.
//!
//! ```text
//! tab (read-only): header  [HEADER]             H_* slots
//!                  groups  [n_groups][GW]       G_* slots: constants of each group
//!                  tensors [n_tensors][TENSOR_WORDS]  T_* slots
//!                  chunks  [n_chunks][CHUNK_WORDS]    C_* slots
//!                  tconst  [TCONST_HEADER][cand][n_groups][STEP_WORDS]
//!                          TC_* header; b2, 1 - b2, lr, natural decay per entry
//!                  counters [COUNTER_WORDS]         K_* slots (TensorStep only)
//! work (scratch):  partials [n_chunks][PARTIAL_WORDS]   P_* slots
//!                  scalars  [n_tensors][SCALAR_WORDS]   SC_* slots
//! status:          [STATUS_WORDS]                       ST_* slots
//! ```

/// Bytes of a word.
pub(crate) const WORD_BYTES: u64 = 4;

/// Invocations per workgroup.
pub(crate) const WG: u32 = 256;
/// Elements per chunk: one workgroup, 16 each.
pub(crate) const CHUNK: u64 = 16 * WG as u64;
/// Width of the 2-D dispatch grid.
pub(crate) const GRID_X: u32 = 32768;

/// Words of the header of `tab`.
pub(crate) const HEADER: usize = 8;
/// Header slots: counts and where each table starts.
pub(crate) const H_N_GROUPS: usize = 0;
pub(crate) const H_N_TENSORS: usize = 1;
pub(crate) const H_N_CHUNKS: usize = 2;
pub(crate) const H_GROUP_OFF: usize = 3;
pub(crate) const H_TENSOR_OFF: usize = 4;
pub(crate) const H_CHUNK_OFF: usize = 5;
pub(crate) const H_TCONST_OFF: usize = 6;
/// Where the counter constants start ([`TensorStep`](crate::TensorStep)
/// only; 0 in an [`FAdamGpu`](crate::FAdamGpu)'s tables).
pub(crate) const H_COUNTER_OFF: usize = 7;

/// Words of constants per group, and their slots.
pub(crate) const GW: usize = 16;
pub(crate) const G_SIGN: usize = 0;
pub(crate) const G_L2: usize = 1;
pub(crate) const G_LERP: usize = 2;
pub(crate) const G_KEEP: usize = 3;
pub(crate) const G_EPS_FB: usize = 4;
pub(crate) const G_EPS: usize = 5;
pub(crate) const G_EPS2: usize = 6;
pub(crate) const G_TWO_P: usize = 7;
pub(crate) const G_P: usize = 8;
pub(crate) const G_CLIP: usize = 9;
pub(crate) const G_FLAGS: usize = 10;
pub(crate) const G_RULE: usize = 11;
pub(crate) const G_POWER: usize = 12;

/// Bits of a group's `G_FLAGS` word.
pub(crate) const F_CLIP: u32 = 1;
pub(crate) const F_NAT_M: u32 = 1 << 1;
pub(crate) const F_NAT_W: u32 = 1 << 2;
pub(crate) const F_NEED_N: u32 = 1 << 3;
pub(crate) const F_NEED_W: u32 = 1 << 4;
pub(crate) const F_READ_THETA: u32 = 1 << 5;
pub(crate) const F_LERP_NEW: u32 = 1 << 6;

/// `G_RULE` codes: the [`EpsilonRule`](fadam_core::EpsilonRule).
pub(crate) const RULE_ADAPTIVE: u32 = 0;
pub(crate) const RULE_PAPER_V3: u32 = 1;
pub(crate) const RULE_FIXED: u32 = 2;
/// `G_POWER` codes: `f^p` as `sqrt(f)`, `f`, or the general power.
pub(crate) const POWER_SQRT: u32 = 0;
pub(crate) const POWER_ONE: u32 = 1;
pub(crate) const POWER_GENERAL: u32 = 2;

/// Words per tensor entry, and their slots.
pub(crate) const TENSOR_WORDS: usize = 4;
pub(crate) const T_FIRST_CHUNK: usize = 0;
pub(crate) const T_N_CHUNKS: usize = 1;
pub(crate) const T_LEN: usize = 2;
pub(crate) const T_GROUP: usize = 3;

/// Words per chunk entry, and their slots (`C_START` is in the window).
pub(crate) const CHUNK_WORDS: usize = 4;
pub(crate) const C_TENSOR: usize = 0;
pub(crate) const C_START: usize = 1;
pub(crate) const C_LEN: usize = 2;
pub(crate) const C_WINDOW: usize = 3;

/// Words before the step-constant entries: the first step count and the
/// number of candidate counts.
pub(crate) const TCONST_HEADER: usize = 4;
pub(crate) const TC_BASE: usize = 0;
pub(crate) const TC_COUNT: usize = 1;
/// Words per step-constant entry: `b2`, `1 - b2`, lr, natural decay.
pub(crate) const STEP_WORDS: usize = 4;

/// Words of the counter constants of a [`TensorStep`](crate::TensorStep)
/// (`f32`, `K_ADAM` a flag), after the step-constant table: what
/// `counters.wgsl` needs to advance `1 - β^t` on the GPU and to form the
/// step constants from it after a refused step.
pub(crate) const COUNTER_WORDS: usize = 8;
pub(crate) const K_BETA1: usize = 0;
pub(crate) const K_OMB1: usize = 1;
pub(crate) const K_BETA2: usize = 2;
pub(crate) const K_OMB2: usize = 3;
pub(crate) const K_LR: usize = 4;
pub(crate) const K_DECAY: usize = 5;
pub(crate) const K_ADAM: usize = 6;

/// Words of partial sums per chunk in `work`, and their slots: three
/// scaled sums `s·2^k` (of `g²`, `(g/d)²`, `(θ/d)²`) and the `BAD_*` bits.
pub(crate) const PARTIAL_WORDS: usize = 8;
pub(crate) const P_S_G: usize = 0;
pub(crate) const P_K_G: usize = 1;
pub(crate) const P_S_N: usize = 2;
pub(crate) const P_K_N: usize = 3;
pub(crate) const P_S_W: usize = 4;
pub(crate) const P_K_W: usize = 5;
pub(crate) const P_BAD: usize = 6;

/// Words of scalars per tensor in `work` (after the partials), and their
/// slots.
pub(crate) const SCALAR_WORDS: usize = 16;
pub(crate) const SC_E: usize = 0;
pub(crate) const SC_REDO: usize = 1;
pub(crate) const SC_CN_M: usize = 2;
pub(crate) const SC_CN_E: usize = 3;
pub(crate) const SC_CW_M: usize = 4;
pub(crate) const SC_CW_E: usize = 5;
pub(crate) const SC_B2: usize = 6;
pub(crate) const SC_OMB2: usize = 7;
pub(crate) const SC_LR: usize = 8;
pub(crate) const SC_RMS_M: usize = 9;
pub(crate) const SC_RMS_E: usize = 10;
pub(crate) const SC_ND: usize = 11;

/// Why a chunk's step must be skipped (`P_BAD` bits), in the order of the
/// core's precedence (`fadam_core::Reduction::absorb`): where a tensor has
/// several, the highest bit is reported. A skip code's kind is the bit's
/// index plus one.
/// A `g²` overflows the Fisher diagonal.
pub(crate) const BAD_FISHER: u32 = 1;
/// A gradient (after the sign and the L2 term) is NaN or infinite.
pub(crate) const BAD_NON_FINITE: u32 = 1 << 1;
/// A Fisher value in the state is negative, NaN or infinite.
pub(crate) const BAD_FISHER_STATE: u32 = 1 << 2;
/// A momentum value in the state is NaN or infinite.
pub(crate) const BAD_MOMENTUM: u32 = 1 << 3;
/// A parameter is NaN or infinite.
pub(crate) const BAD_PARAM: u32 = 1 << 4;

/// Words of the status buffer, and their slots: steps applied, steps
/// skipped, whether the last step was skipped, its skip code, steps
/// processed.
pub(crate) const STATUS_WORDS: usize = 8;
pub(crate) const ST_STEP: usize = 0;
pub(crate) const ST_SKIPS: usize = 1;
pub(crate) const ST_LAST_SKIPPED: usize = 2;
pub(crate) const ST_SKIP_CODE: usize = 3;
pub(crate) const ST_SEQ: usize = 4;

/// A skip code is `((SKIP_TENSOR_MAX - tensor) << SKIP_KIND_BITS) | kind`
/// (kind the index of a `BAD_*` bit plus one), so that the largest code
/// (`atomicMax`) names the first offending tensor.
pub(crate) const SKIP_TENSOR_MAX: u32 = (1 << 29) - 1;
pub(crate) const SKIP_KIND_BITS: u32 = 3;

/// The tensor and `BAD_*` bit of a non-zero skip code (the bit is 0 for a
/// kind no shader writes).
pub(crate) fn decode_skip(code: u32) -> (usize, u32) {
    let kind = code & ((1 << SKIP_KIND_BITS) - 1);
    let bit = match kind {
        1..=5 => 1 << (kind - 1),
        _ => 0,
    };
    ((SKIP_TENSOR_MAX - (code >> SKIP_KIND_BITS)) as usize, bit)
}

/// Binding indices of the one bind group every pass uses.
pub(crate) const B_THETA: u32 = 0;
pub(crate) const B_GRAD: u32 = 1;
pub(crate) const B_MOM: u32 = 2;
pub(crate) const B_FIS: u32 = 3;
pub(crate) const B_TAB: u32 = 4;
pub(crate) const B_WORK: u32 = 5;
pub(crate) const B_STATUS: u32 = 6;
pub(crate) const B_WINDOW: u32 = 7;

/// `(NAME, value)` for each of the given consts, under its Rust name.
macro_rules! named {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as u64)),*]
    };
}

// Every slot lies inside its entry; the kinds fit their bits.
const _: () = {
    assert!(H_TCONST_OFF < HEADER && H_COUNTER_OFF < HEADER);
    assert!(K_ADAM < COUNTER_WORDS);
    assert!(G_POWER < GW);
    assert!(T_GROUP < TENSOR_WORDS && C_WINDOW < CHUNK_WORDS);
    // The shaders read a step-constant entry as one `vec4`.
    assert!(TC_COUNT < TCONST_HEADER && STEP_WORDS == 4);
    assert!(P_BAD < PARTIAL_WORDS && SC_ND < SCALAR_WORDS);
    assert!(ST_SEQ < STATUS_WORDS);
    // The highest bit's kind (its index plus one) fits the kind bits.
    assert!(BAD_PARAM.trailing_zeros() < (1 << SKIP_KIND_BITS) - 1);
    assert!(BAD_PARAM == 1 << 4);
};

/// Every `u32` constant of the prelude: its WGSL name (the Rust name) and
/// value.
const U32_CONSTS: &[(&str, u64)] = named![
    WG,
    GRID_X,
    H_N_GROUPS,
    H_N_TENSORS,
    H_N_CHUNKS,
    H_GROUP_OFF,
    H_TENSOR_OFF,
    H_CHUNK_OFF,
    H_TCONST_OFF,
    H_COUNTER_OFF,
    GW,
    G_SIGN,
    G_L2,
    G_LERP,
    G_KEEP,
    G_EPS_FB,
    G_EPS,
    G_EPS2,
    G_TWO_P,
    G_P,
    G_CLIP,
    G_FLAGS,
    G_RULE,
    G_POWER,
    F_CLIP,
    F_NAT_M,
    F_NAT_W,
    F_NEED_N,
    F_NEED_W,
    F_READ_THETA,
    F_LERP_NEW,
    RULE_ADAPTIVE,
    RULE_PAPER_V3,
    RULE_FIXED,
    POWER_SQRT,
    POWER_ONE,
    POWER_GENERAL,
    TENSOR_WORDS,
    T_FIRST_CHUNK,
    T_N_CHUNKS,
    T_LEN,
    T_GROUP,
    CHUNK_WORDS,
    C_TENSOR,
    C_START,
    C_LEN,
    C_WINDOW,
    TCONST_HEADER,
    TC_BASE,
    TC_COUNT,
    STEP_WORDS,
    COUNTER_WORDS,
    K_BETA1,
    K_OMB1,
    K_BETA2,
    K_OMB2,
    K_LR,
    K_DECAY,
    K_ADAM,
    PARTIAL_WORDS,
    P_S_G,
    P_K_G,
    P_S_N,
    P_K_N,
    P_S_W,
    P_K_W,
    P_BAD,
    SCALAR_WORDS,
    SC_E,
    SC_REDO,
    SC_CN_M,
    SC_CN_E,
    SC_CW_M,
    SC_CW_E,
    SC_B2,
    SC_OMB2,
    SC_LR,
    SC_RMS_M,
    SC_RMS_E,
    SC_ND,
    BAD_NON_FINITE,
    BAD_FISHER,
    BAD_FISHER_STATE,
    BAD_MOMENTUM,
    BAD_PARAM,
    STATUS_WORDS,
    ST_STEP,
    ST_SKIPS,
    ST_LAST_SKIPPED,
    ST_SKIP_CODE,
    ST_SEQ,
    SKIP_TENSOR_MAX,
    SKIP_KIND_BITS,
    B_THETA,
    B_GRAD,
    B_MOM,
    B_FIS,
    B_TAB,
    B_WORK,
    B_STATUS,
    B_WINDOW,
];

/// The `f32` constants of the prelude.
const F32_CONSTS: &[(&str, f32)] = &[("MIN_POS", f32::MIN_POSITIVE), ("MAX_F32", f32::MAX)];

/// The WGSL constants every shader module starts with.
pub(crate) fn prelude() -> String {
    let mut s = String::from("// Generated from src/words.rs.\n");
    for (name, value) in U32_CONSTS {
        let value = u32::try_from(*value).expect("every shared word fits u32");
        s += &format!("const {name}: u32 = {value}u;\n");
    }
    for (name, value) in F32_CONSTS {
        s += &format!("const {name}: f32 = {};\n", wgsl_hex_f32(*value));
    }
    s
}

/// A positive normal `f32` as an exact WGSL hexadecimal literal. Not the
/// shortest decimal: Chromium's compiler (Tint) reads `3.4028235e38f`
/// (`f32::MAX` printed shortest) as the exact decimal, which lies above
/// `f32::MAX`, and rejects the module; naga rounds it. Hex is exact for both.
fn wgsl_hex_f32(value: f32) -> String {
    assert!(
        value.is_normal() && value > 0.0,
        "{value} is a positive normal f32"
    );
    let bits = value.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    // 23 fraction bits, shifted to fill six hex digits.
    let fraction = (bits & 0x7f_ffff) << 1;
    format!("0x1.{fraction:06x}p{exponent}f")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The names the prelude defines, with the bits of their values.
    pub(crate) fn defined() -> Vec<(&'static str, u32)> {
        U32_CONSTS
            .iter()
            .map(|&(n, v)| (n, v as u32))
            .chain(F32_CONSTS.iter().map(|&(n, v)| (n, v.to_bits())))
            .collect()
    }

    #[test]
    fn hex_literals_are_exact() {
        assert_eq!(wgsl_hex_f32(f32::MAX), "0x1.fffffep127f");
        assert_eq!(wgsl_hex_f32(f32::MIN_POSITIVE), "0x1.000000p-126f");
        assert_eq!(wgsl_hex_f32(1.5), "0x1.800000p0f");
    }

    #[test]
    fn names_are_unique_and_values_fit() {
        let mut names: Vec<_> = defined().iter().map(|d| d.0).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a name is defined twice");
        assert!(U32_CONSTS.iter().all(|&(_, v)| v <= u64::from(u32::MAX)));
    }

    #[test]
    fn skip_codes_round_trip_and_order() {
        // As `fold.wgsl` encodes a bit.
        let code = |tensor: u32, bit: u32| {
            ((SKIP_TENSOR_MAX - tensor) << SKIP_KIND_BITS) | (bit.trailing_zeros() + 1)
        };
        let bits = [
            BAD_FISHER,
            BAD_NON_FINITE,
            BAD_FISHER_STATE,
            BAD_MOMENTUM,
            BAD_PARAM,
        ];
        for bit in bits {
            assert_eq!(decode_skip(code(0, bit)), (0, bit));
            assert_eq!(
                decode_skip(code(SKIP_TENSOR_MAX, bit)),
                (SKIP_TENSOR_MAX as usize, bit)
            );
            assert_ne!(code(SKIP_TENSOR_MAX, bit), 0);
        }
        // The largest code names the first tensor, then the bit first in
        // the core's precedence.
        assert!(code(3, BAD_FISHER) > code(4, BAD_PARAM));
        assert!(code(3, BAD_PARAM) > code(3, BAD_MOMENTUM));
        assert_eq!(decode_skip(6 | (5 << SKIP_KIND_BITS)).1, 0);
    }
}
