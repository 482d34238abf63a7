//! Simulated destinations: how each answers its calls over time.

use qase_webhooks::retry::AttemptResult;

use super::rng::Rng;

/// How a destination behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Accepts everything.
    Up,
    /// Answers 503 to everything, for good.
    Down,
    /// Answers 503 until this time (ms), then accepts everything.
    DownUntil(u64),
    /// Accepts with this probability, else 500.
    Flaky(f64),
    /// Fails each event this many times (503 `Retry-After: 1`, then 500), then accepts it.
    FailEach(u32),
    /// Of every three calls, fails the first two and accepts the third.
    OneInThree,
    /// Answers after its timeout half of the time (having taken the event), else 200.
    Slow,
    /// Answers 429 with `Retry-After` (seconds) half of the time, else 200.
    TooMany(u64),
    /// Answers 410 to everything.
    Gone,
    /// Answers 400 to everything.
    Refuses,
}

/// What a call did: what the consumer sees, and whether the destination
/// took the event (it may take it and still be too slow to say so).
pub struct Answer {
    pub result: AttemptResult,
    pub description: String,
    pub taken: bool,
}

fn status(code: u16, retry_after: Option<u64>) -> Answer {
    Answer {
        result: AttemptResult::Status {
            status: code,
            retry_after,
        },
        description: format!("HTTP {code}"),
        taken: (200..300).contains(&code),
    }
}

impl Behaviour {
    pub fn random(rng: &mut Rng) -> Behaviour {
        match rng.range(0, 9) {
            0 => Behaviour::Up,
            1 => Behaviour::Down,
            2 => Behaviour::DownUntil(rng.range(10, 1800) * 1000),
            3 => Behaviour::Flaky(0.3 + rng.unit() * 0.6),
            4 => Behaviour::FailEach(rng.range(1, 2) as u32),
            5 => Behaviour::OneInThree,
            6 => Behaviour::Slow,
            7 => Behaviour::TooMany(rng.range(1, 5)),
            8 => Behaviour::Gone,
            _ => Behaviour::Refuses,
        }
    }

    /// The answer to a call: the destination's `calls` so far, the
    /// event's `event_calls` so far, at `now`.
    pub fn answer(self, calls: u32, event_calls: u32, now: u64, rng: &mut Rng) -> Answer {
        match self {
            Behaviour::Up => status(200, None),
            Behaviour::Down => status(503, None),
            Behaviour::DownUntil(until) if now < until => status(503, None),
            Behaviour::DownUntil(_) => status(200, None),
            Behaviour::Flaky(p) if rng.chance(p) => status(200, None),
            Behaviour::Flaky(_) => status(500, None),
            Behaviour::FailEach(k) if event_calls >= k => status(200, None),
            Behaviour::FailEach(_) if event_calls == 0 => status(503, Some(1)),
            Behaviour::FailEach(_) => status(500, None),
            Behaviour::OneInThree if calls % 3 == 2 => status(200, None),
            Behaviour::OneInThree => status(500, None),
            Behaviour::Slow if rng.chance(0.5) => Answer {
                result: AttemptResult::Timeout,
                description: "no answer within the timeout".to_owned(),
                taken: true,
            },
            Behaviour::Slow => status(200, None),
            Behaviour::TooMany(seconds) if rng.chance(0.5) => status(429, Some(seconds)),
            Behaviour::TooMany(_) => status(200, None),
            Behaviour::Gone => status(410, None),
            Behaviour::Refuses => status(400, None),
        }
    }

    /// Whether it accepts events at some point (and from then on, or often enough).
    pub fn recovers(self) -> bool {
        !matches!(self, Behaviour::Down | Behaviour::Gone | Behaviour::Refuses)
    }

    /// Whether it refuses everything (each event a dead letter).
    pub fn refuses(self) -> bool {
        matches!(self, Behaviour::Gone | Behaviour::Refuses)
    }

    /// Whether it accepts at least one attempt in three, whatever the
    /// order of calls: the bound of delivery applies to it.
    pub fn one_in_three(self) -> bool {
        matches!(
            self,
            Behaviour::OneInThree | Behaviour::FailEach(_) | Behaviour::Up
        )
    }
}
