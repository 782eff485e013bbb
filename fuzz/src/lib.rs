//! What the fuzz targets share: decoding configs and values from the
//! fuzzer's bytes (mostly meaningful values, sometimes any bit pattern),
//! and the checks of the promises.

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode, Real, State};
use libfuzzer_sys::arbitrary::{Result, Unstructured};

/// A float: a value a user would write, a power of ten of either sign, or
/// any bit pattern.
pub fn number(u: &mut Unstructured<'_>) -> Result<f64> {
    const NICE: [f64; 12] = [
        0.0, -0.0, 0.5, 0.9, 0.999, 1.0, 1e-8, 0.01, 0.1, 2.0, 1e-3, -1.0,
    ];
    Ok(match u.int_in_range(0u8..=3)? {
        0 => *u.choose(&NICE)?,
        1 => {
            let e: i32 = u.int_in_range(-330..=330)?;
            let x = libm_pow10(e);
            if u.arbitrary()? { -x } else { x }
        }
        2 => f64::from(u.arbitrary::<f32>()?),
        _ => f64::from_bits(u.arbitrary()?),
    })
}

fn libm_pow10(e: i32) -> f64 {
    format!("1e{e}").parse().unwrap_or(0.0)
}

/// Any config: valid ones often, invalid ones too.
pub fn config(u: &mut Unstructured<'_>) -> Result<FAdamConfig> {
    let base = *u.choose(&[
        FAdamConfig::new(),
        FAdamConfig::adam(),
        FAdamConfig::adamw(),
    ])?;
    let mut c = base;
    // Each field is kept or replaced.
    let field = |u: &mut Unstructured<'_>, v: &mut f64| -> Result<()> {
        if u.ratio(1u8, 4)? {
            *v = number(u)?;
        }
        Ok(())
    };
    field(u, &mut c.lr)?;
    field(u, &mut c.beta1)?;
    field(u, &mut c.beta2)?;
    field(u, &mut c.eps)?;
    field(u, &mut c.eps2)?;
    field(u, &mut c.fisher_power)?;
    field(u, &mut c.weight_decay)?;
    if u.ratio(1u8, 4)? {
        c.clip = if u.arbitrary()? {
            Some(number(u)?)
        } else {
            None
        };
    }
    if u.ratio(1u8, 4)? {
        c.epsilon_rule = *u.choose(&[
            EpsilonRule::Adaptive,
            EpsilonRule::PaperV3,
            EpsilonRule::Fixed,
        ])?;
        c.momentum = *u.choose(&[MomentumMode::Natural, MomentumMode::Adam])?;
        c.decay = *u.choose(&[
            DecayMode::Natural,
            DecayMode::Decoupled,
            DecayMode::L2,
            DecayMode::None,
        ])?;
        c.maximize = u.arbitrary()?;
    }
    Ok(c)
}

/// `n` values of the state type.
pub fn values<S: Real>(u: &mut Unstructured<'_>, n: usize) -> Result<Vec<S>> {
    (0..n).map(|_| number(u).map(S::narrow)).collect()
}

/// A state for `n` parameters (step counter anything, near `u64::MAX` too).
pub fn state<S: Real>(u: &mut Unstructured<'_>, n: usize) -> Result<State<S>> {
    let fresh = u.arbitrary::<bool>()?;
    if fresh {
        return Ok(State::new(n));
    }
    let (m, f) = (values(u, n)?, values(u, n)?);
    let step = *u.choose(&[0, 1, 7, u64::MAX - 1, u64::MAX])?;
    Ok(State::from_parts_unchecked(m, f, step))
}

/// The bits of a slice, to compare "every byte unchanged" (NaN included).
pub fn bits<S: Real>(v: &[S]) -> Vec<u64> {
    v.iter().map(|x| x.wide().to_bits()).collect()
}

/// Whether a state holds only values a step can write.
pub fn state_valid<S: Real>(m: &[S], f: &[S]) -> bool {
    fadam_core::validate_state(m, f).is_ok()
}

/// The promise of an accepted step: inputs were valid and finite, and the
/// outputs are finite (the update saturates at the type's range).
pub fn assert_accepted<S: Real>(
    config: &FAdamConfig,
    before: (&[S], &[S], &State<S>),
    after: (&[S], &State<S>),
) {
    let (theta, grads, state) = before;
    let context = format!("{config:?}\nθ {theta:?}\ng {grads:?}\n{state:?}\nafter {after:?}");
    assert!(
        theta.iter().all(|x| x.is_finite()),
        "accepted a non-finite parameter: {context}"
    );
    assert!(
        grads.iter().all(|x| x.is_finite()),
        "accepted a non-finite gradient: {context}"
    );
    assert!(
        state_valid(state.momentum(), state.fisher()),
        "accepted an invalid state: {context}"
    );
    let (theta, state) = after;
    assert!(
        theta.iter().all(|x| x.is_finite()),
        "non-finite parameter written: {context}"
    );
    assert!(
        state_valid(state.momentum(), state.fisher()),
        "invalid state written: {context}"
    );
}
