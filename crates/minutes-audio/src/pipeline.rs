//! Decode on a helper thread, resample to 16 kHz on the caller's, with the duration limit.

use std::sync::mpsc;

use crate::resample::{Sink, To16k};
use crate::source::{guarded, MonoSource};
use crate::AudioError;

/// Samples the decoder thread gathers before handing a batch over; keeps channel traffic low.
const BATCH: usize = 32 * 1024;
/// Batches in flight: enough to keep both threads busy, small enough to bound memory.
const QUEUE: usize = 4;

/// Streams `source` through the resampler into `sink`, refusing more than `max_secs` of audio.
/// The limit counts decoded samples, so it holds whatever the headers claim.
pub(crate) fn run(
    source: Box<dyn MonoSource>,
    max_secs: f64,
    limit_secs: f64,
    sink: &mut Sink<'_>,
) -> Result<u64, AudioError> {
    let rate = source.sample_rate();
    let max_frames = if max_secs > 0.0 {
        (max_secs * f64::from(rate)).floor() as u64
    } else {
        0
    };
    let mut resampler = To16k::new(rate)?;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Result<Vec<f32>, AudioError>>(QUEUE);
        let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<f32>>();
        let producer = scope.spawn(move || produce(source, &tx, &recycle_rx));
        let consumed = (|| {
            let mut frames = 0u64;
            for batch in &rx {
                let batch = batch?;
                frames += batch.len() as u64;
                if frames > max_frames {
                    return Err(AudioError::TooLong { limit_secs });
                }
                resampler.push(&batch, sink)?;
                // The decoder may be gone already; then the buffer is simply dropped.
                let _ = recycle_tx.send(batch);
            }
            Ok(())
        })();
        // Hanging up makes a decoder blocked on a full queue stop early.
        drop(rx);
        let joined = producer.join();
        consumed?;
        joined.map_err(|_| AudioError::corrupt("decoder thread failed"))?;
        resampler.finish(sink)
    })
}

/// Decoder thread body: batches of mono samples until the end, an error, or a hang-up.
fn produce(
    mut source: Box<dyn MonoSource>,
    tx: &mpsc::SyncSender<Result<Vec<f32>, AudioError>>,
    recycle: &mpsc::Receiver<Vec<f32>>,
) {
    loop {
        let mut batch = recycle
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH + 8192));
        batch.clear();
        let mut ended = false;
        while batch.len() < BATCH {
            match guarded(|| source.next(&mut batch)) {
                Ok(true) => {}
                Ok(false) => {
                    ended = true;
                    break;
                }
                Err(e) => {
                    // The consumer reports it; if it hung up, nobody needs it.
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if (!batch.is_empty() && tx.send(Ok(batch)).is_err()) || ended {
            return;
        }
    }
}
