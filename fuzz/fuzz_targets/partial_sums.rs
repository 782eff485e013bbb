//! `PartialSums::from_words` on any words, and the sharded protocol
//! (`Reduction`) with the sums sent as words and sometimes corrupted: no
//! panic; decoded words encode back to themselves; a corrupted or invalid
//! total is refused and nothing is applied; an uncorrupted one-shard run
//! gives the same bits as `step`, and every run refuses what `step` refuses.
#![no_main]

use fadam_core::{Error, PartialSums, Reduction, State, StateMut, step};
use fadam_fuzz::{assert_accepted, bits, config, state, values};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Errors compared by their text: a NaN in a refused config is equal to
/// itself here.
fn same(r: core::result::Result<(), Error>) -> String {
    format!("{r:?}")
}

fn words(u: &mut Unstructured<'_>) -> Result<()> {
    let mut w = [0u64; PartialSums::WORDS];
    for x in &mut w {
        *x = u.arbitrary()?;
    }
    if let Ok(sums) = PartialSums::from_words(w) {
        assert_eq!(sums.to_words(), w);
        // Combining and absorbing decoded sums never panics.
        let twice = sums.combine(&sums);
        let config = config(u)?;
        if let Ok(mut r) = Reduction::<f32>::new(&config, 0, sums.count() as usize) {
            let _ = r.absorb(sums);
            let _ = r.absorb(twice);
        }
    }
    Ok(())
}

fn sharded(u: &mut Unstructured<'_>) -> Result<()> {
    let config = config(u)?;
    let n = usize::from(u.int_in_range(0u8..=40)?);
    let theta: Vec<f64> = values(u, n)?;
    let grads: Vec<f64> = values(u, n)?;
    let st = state::<f64>(u, n)?;
    // Shard boundaries.
    let mut cuts: Vec<usize> = (0..u.int_in_range(0u8..=3)?)
        .map(|_| u.int_in_range(0..=n))
        .collect::<Result<_>>()?;
    cuts.extend([0, n]);
    cuts.sort_unstable();
    let corrupt = u.ratio(1u8, 4)?;
    let (word, value): (usize, u64) = (u.int_in_range(0..=7)?, u.arbitrary()?);

    let (mut whole, mut whole_state) = (theta.clone(), st.clone());
    let expected = step(&config, &mut whole, &grads, whole_state.as_mut());

    let mut r = match Reduction::<f64>::new(&config, st.step(), n) {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(same(Err(e)), same(expected.map(|_| ())));
            return Ok(());
        }
    };
    let mut corrupted = false;
    let absorbed = loop {
        if r.is_ready() {
            break Ok(());
        }
        let mut total = PartialSums::EMPTY;
        let mut refused = None;
        for (i, w) in cuts.windows(2).enumerate() {
            let s = w[0]..w[1];
            let part = r.partial_sums(
                &theta[s.clone()],
                &grads[s.clone()],
                &st.momentum()[s.clone()],
                &st.fisher()[s],
            );
            let part = part.expect("shards of the right lengths");
            let mut words = part.to_words();
            if corrupt && i == 0 && !corrupted {
                words[word] = value;
                corrupted = words != part.to_words();
            }
            match PartialSums::from_words(words) {
                Ok(p) => total = total.combine(&p),
                Err(e) => {
                    assert_eq!(e, Error::InvalidPartialSums);
                    refused = Some(e);
                }
            }
        }
        if let Some(e) = refused {
            break Err(e);
        }
        if let Err(e) = r.absorb(total) {
            break Err(e);
        }
    };
    let (mut sharded, mut m, mut f) = (theta.clone(), st.momentum().to_vec(), st.fisher().to_vec());
    let mut steps = vec![st.step(); cuts.len() - 1];
    match absorbed {
        Err(e) => {
            if !corrupted {
                let whole = same(expected.map(|_| ()));
                assert_eq!(same(Err(e)), whole, "sharded and whole refuse alike");
            }
        }
        Ok(()) => {
            for (i, w) in cuts.windows(2).enumerate() {
                let s = w[0]..w[1];
                let state = StateMut::new(&mut m[s.clone()], &mut f[s.clone()], &mut steps[i]);
                r.apply(&mut sharded[s.clone()], &grads[s], state)
                    .expect("apply after absorb");
            }
            if !corrupted {
                assert!(
                    expected.is_ok(),
                    "sharded accepted what step refused: {expected:?}"
                );
                let after = State::from_parts_unchecked(m.clone(), f.clone(), st.step());
                assert_accepted(&config, (&theta, &grads, &st), (&sharded, &after));
                if cuts.len() == 2 {
                    assert_eq!(bits(&sharded), bits(&whole));
                    assert_eq!(bits(&m), bits(whole_state.momentum()));
                    assert_eq!(bits(&f), bits(whole_state.fisher()));
                }
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = if u.arbitrary::<bool>().unwrap_or(false) {
        words(&mut u)
    } else {
        sharded(&mut u)
    };
});
