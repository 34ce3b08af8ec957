//! Ctrl-C (SIGINT) and SIGTERM as a flag: the first one sets it, and the comparison stops its
//! current run and shuts its clusters down cleanly; a second one exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Starts a thread that waits for SIGINT or SIGTERM and returns the flag it sets on the first.
/// On a second signal the process exits (status 130) without cleaning up.
///
/// # Errors
/// When the thread or its signal handlers cannot be set up.
pub fn stop_flag() -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered here, before returning, so that no signal is missed from now on.
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    let set = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                loop {
                    let received = tokio::select! {
                        r = interrupt.recv() => r,
                        r = terminate.recv() => r,
                    };
                    if received.is_none() {
                        return; // no more signals can come
                    }
                    if set.swap(true, Ordering::SeqCst) {
                        eprintln!(
                            "cluster-compare: second signal: exiting without stopping the \
                             clusters (run bench/peers/*-down.sh and stop `dynamo up` by hand)"
                        );
                        std::process::exit(130);
                    }
                    eprintln!(
                        "cluster-compare: stopping (a second Ctrl-C exits without cleaning up)"
                    );
                }
            });
        })?;
    Ok(flag)
}
