//! `fadam_core::step` and `step_model` on arbitrary configs, lengths and bit
//! patterns, in `f32` and `f64`: no panic; on `Ok`, the inputs were valid
//! and finite and the outputs are finite; on `Err`, every byte unchanged.
#![no_main]

use fadam_core::{Param, Real, State, Tensor, step, step_model};
use fadam_fuzz::{assert_accepted, bits, config, state, values};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

struct Case<S: Real> {
    theta: Vec<S>,
    grads: Vec<S>,
    state: State<S>,
    group: usize,
}

fn case<S: Real>(u: &mut Unstructured<'_>) -> Result<Case<S>> {
    // Mostly short; sometimes past a tile (64) or a block (16 384).
    let n = match u.int_in_range(0u8..=15)? {
        0 => u.int_in_range(65..=300)?,
        1 if u.ratio(1u8, 8)? => 16_384 + usize::from(u.int_in_range(0u8..=3)?),
        _ => usize::from(u.int_in_range(0u8..=12)?),
    };
    let theta = values(u, n)?;
    let grads = values(u, n)?;
    let mut state = state(u, n)?;
    // A length mismatch now and then.
    let mismatch = u.int_in_range(0u8..=31)?;
    if mismatch < 2 {
        let (mut m, mut f, k) = state.into_parts();
        if mismatch == 0 {
            m.push(S::zero());
        } else {
            f.pop();
        }
        state = State::from_parts_unchecked(m, f, k);
    }
    let grads = if u.ratio(1u8, 32)? {
        grads[..n / 2].to_vec()
    } else {
        grads
    };
    Ok(Case {
        theta,
        grads,
        state,
        group: usize::from(u.int_in_range(0u8..=2)?),
    })
}

fn check<S: Real + Param<State = S>>(u: &mut Unstructured<'_>) -> Result<()> {
    let groups = [config(u)?, config(u)?];
    let cases: Vec<Case<S>> = (0..u.int_in_range(1u8..=3)?)
        .map(|_| case(u))
        .collect::<Result<_>>()?;

    // One tensor at a time with `step`.
    for c in &cases {
        let (mut theta, mut st) = (c.theta.clone(), c.state.clone());
        match step(&groups[0], &mut theta, &c.grads, st.as_mut()) {
            Ok(_) => {
                assert_accepted(&groups[0], (&c.theta, &c.grads, &c.state), (&theta, &st));
                assert_eq!(st.step(), c.state.step() + 1);
            }
            Err(_) => {
                assert_eq!(bits(&theta), bits(&c.theta));
                assert_eq!(bits(st.momentum()), bits(c.state.momentum()));
                assert_eq!(bits(st.fisher()), bits(c.state.fisher()));
                assert_eq!(st.step(), c.state.step());
            }
        }
    }

    // All of them with `step_model`: all or nothing.
    let mut thetas: Vec<Vec<S>> = cases.iter().map(|c| c.theta.clone()).collect();
    let mut states: Vec<State<S>> = cases.iter().map(|c| c.state.clone()).collect();
    let result = {
        let mut tensors: Vec<Tensor<'_, S>> = thetas
            .iter_mut()
            .zip(states.iter_mut())
            .zip(&cases)
            .map(|((t, s), c)| Tensor::new(t, &c.grads, s.as_mut()).with_group(c.group))
            .collect();
        step_model(&groups, &mut tensors)
    };
    for ((t, s), c) in thetas.iter().zip(&states).zip(&cases) {
        match result {
            Ok(()) => assert_accepted(&groups[c.group], (&c.theta, &c.grads, &c.state), (t, s)),
            Err(_) => {
                assert_eq!(bits(t), bits(&c.theta));
                assert_eq!(bits(s.momentum()), bits(c.state.momentum()));
                assert_eq!(bits(s.fisher()), bits(c.state.fisher()));
                assert_eq!(s.step(), c.state.step());
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = if u.arbitrary::<bool>().unwrap_or(false) {
        check::<f64>(&mut u)
    } else {
        check::<f32>(&mut u)
    };
});
