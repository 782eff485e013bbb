//! Runs [`fadam_embedded::train`] for [`EPOCHS`] passes: on a Cortex-M
//! under QEMU (output by semihosting, the cost timed with SysTick, the
//! verdict as QEMU's exit status), or on the host (`cargo run`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use fadam_embedded::{EPOCHS, Model, PARAMS, Summary};

/// The line that says how training ended; the exit status follows it.
fn verdict(summary: &Summary) -> &'static str {
    if summary.learned() {
        "ok: the loss fell and the held-out accuracy is over 80%"
    } else {
        "FAILED: the model did not learn"
    }
}

#[cfg(target_os = "none")]
mod device {
    use core::fmt::Write;
    use core::sync::atomic::{AtomicU32, Ordering};

    use cortex_m::peripheral::{SCB, SYST, syst::SystClkSource};
    use cortex_m_rt::{entry, exception};
    use cortex_m_semihosting::{debug, hio};
    use fadam_embedded::{Clock, train};
    use panic_semihosting as _;

    use super::{EPOCHS, Model, PARAMS, verdict};

    /// SysTick counts down from here, then wraps (24 bits).
    const RELOAD: u32 = 0x00FF_FFFF;
    /// Iterations of the calibration loop, two instructions each.
    const CALIBRATION: u32 = 1_000_000;

    /// SysTick wraps so far, counted by its exception.
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    /// SysTick with its wraps: a 64-bit count of core clock ticks. (QEMU's
    /// LM3S6965 counts only with `-icount`.)
    struct SysTickClock;

    impl Clock for SysTickClock {
        fn now(&mut self) -> Option<u64> {
            loop {
                let wraps = WRAPS.load(Ordering::Relaxed);
                let value = SYST::get_current();
                // A wrap not yet counted, or counted meanwhile: read again.
                if !SCB::is_pendst_pending() && WRAPS.load(Ordering::Relaxed) == wraps {
                    // A period runs 0 (just cleared or wrapped), RELOAD,
                    // ..., 1, then the exception counts the wrap at 0.
                    let into = (RELOAD + 1 - value) & RELOAD;
                    return Some((u64::from(wraps) << 24) + u64::from(into));
                }
            }
        }
    }

    /// Ticks of a loop of `2 × CALIBRATION` instructions (`subs`, `bne`).
    fn calibrate(clock: &mut SysTickClock) -> Option<u64> {
        let start = clock.now()?;
        cortex_m::asm::delay(CALIBRATION - 1);
        clock.now()?.checked_sub(start).filter(|&ticks| ticks > 0)
    }

    #[entry]
    fn main() -> ! {
        // Made a `&'static mut` by `entry`: the model lives in .bss.
        static mut MODEL: Model = Model::new();
        let ok = run(MODEL).is_ok_and(|learned| learned);
        debug::exit(if ok {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }

    /// Trains and reports; `Ok(learned)`, or `Err` if something failed.
    fn run(model: &mut Model) -> Result<bool, ()> {
        let mut out = hio::hstdout()?;
        let mut core = cortex_m::Peripherals::take().ok_or(())?;
        core.SYST.set_clock_source(SystClkSource::Core);
        core.SYST.set_reload(RELOAD);
        core.SYST.clear_current();
        core.SYST.enable_interrupt();
        core.SYST.enable_counter();
        let mut clock = SysTickClock;
        let calibration = calibrate(&mut clock);
        let summary = match train(model, &mut out, &mut clock, EPOCHS) {
            Ok(summary) => summary,
            Err(e) => {
                let _ = writeln!(out, "error: {e}");
                return Err(());
            }
        };
        let mut report = || -> core::fmt::Result {
            let steps = u64::from(summary.steps);
            // Instructions, from the calibration loop's ticks; per step.
            let per_step = |ticks: Option<u64>| {
                let cal = calibration?;
                (ticks?.saturating_mul(u64::from(2 * CALIBRATION)) / cal).checked_div(steps)
            };
            if let (Some(cal), Some(step), Some(grad)) = (
                calibration,
                per_step(summary.step_ticks),
                per_step(summary.gradient_ticks),
            ) {
                writeln!(
                    out,
                    "cost: optimizer step {step} instructions ({} per parameter), gradient of a \
                     batch {grad} instructions (as QEMU -icount counts them, by SysTick at {} \
                     ticks per million)",
                    step / PARAMS as u64,
                    cal.saturating_mul(1_000_000) / u64::from(2 * CALIBRATION),
                )?;
            } else {
                writeln!(out, "cost: not measured (SysTick did not count)")?;
            }
            writeln!(out, "{}", verdict(&summary))
        };
        report().map_err(|_| ())?;
        Ok(summary.learned())
    }
}

#[cfg(not(target_os = "none"))]
fn main() -> std::process::ExitCode {
    use std::io::Write as _;

    /// Standard output as a `fmt::Write`, line by line as it comes.
    struct Stdout;
    impl core::fmt::Write for Stdout {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            std::io::stdout()
                .write_all(s.as_bytes())
                .map_err(|_| core::fmt::Error)
        }
    }

    let mut model = Model::new();
    match fadam_embedded::train(
        &mut model,
        &mut Stdout,
        &mut fadam_embedded::NoClock,
        EPOCHS,
    ) {
        Ok(summary) => {
            println!("cost: not measured on the host ({PARAMS} parameters)");
            println!("{}", verdict(&summary));
            if summary.learned() {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
