//! `fadam-ndarray`'s serde state from any bytes (JSON): no panic; what
//! deserializes is consistent and valid, serializes back to the same state,
//! and steps all-or-nothing, writing only finite values.
#![no_main]

use fadam_core::Real;
use fadam_fuzz::{bits, config};
use fadam_ndarray::{FAdam, ParamState};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use ndarray::{ArrayD, IxDyn};

fn check<S>(json: &[u8], rest: &mut Unstructured<'_>)
where
    S: Real + fadam_core::Param<State = S> + serde::Serialize + serde::de::DeserializeOwned,
{
    let Ok(states) = serde_json::from_slice::<Vec<ParamState<S>>>(json) else {
        return;
    };
    for s in &states {
        let n: usize = s.shape().iter().product();
        assert_eq!((s.momentum().len(), s.fisher().len()), (n, n));
        assert!(fadam_core::validate_state(s.momentum(), s.fisher()).is_ok());
    }
    let again = serde_json::to_vec(&states).expect("serializes");
    let back: Vec<ParamState<S>> = serde_json::from_slice(&again).expect("round trip");
    assert_eq!(back, states);
    // Step with the loaded state, if its arrays are small enough.
    if states.iter().map(ParamState::len).sum::<usize>() > 4096 {
        return;
    }
    let Ok(config) = config(rest) else { return };
    let mut opt = FAdam::<S>::new(config);
    opt.load_state(states.clone());
    let mut params: Vec<ArrayD<S>> = states
        .iter()
        .map(|s| ArrayD::from_elem(IxDyn(s.shape()), S::narrow(0.5)))
        .collect();
    let grads: Vec<ArrayD<S>> = params
        .iter()
        .map(|p| p.mapv(|_| S::narrow(-0.25)))
        .collect();
    let before: Vec<Vec<u64>> = params.iter().map(|p| bits(p.as_slice().unwrap())).collect();
    let mut views: Vec<_> = params.iter_mut().map(|p| p.view_mut()).collect();
    let gviews: Vec<_> = grads.iter().map(|g| g.view()).collect();
    match opt.step(&mut views, &gviews) {
        Ok(()) => {
            for p in &params {
                assert!(
                    p.iter().all(|x| x.is_finite()),
                    "non-finite parameter written"
                );
            }
        }
        Err(_) => {
            for (p, b) in params.iter().zip(&before) {
                assert_eq!(&bits(p.as_slice().unwrap()), b);
            }
            assert_eq!(opt.state(), &states[..]);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the type; the tail after the JSON's last byte
    // (a 0 separator) drives the config.
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let (json, tail) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut u = Unstructured::new(tail);
    if kind & 1 == 0 {
        check::<f32>(json, &mut u);
    } else {
        check::<f64>(json, &mut u);
    }
});
