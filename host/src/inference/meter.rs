//! Metering: each agent's requests and tokens per minute and per day,
//! checked against its budget before a request and counted after it. The
//! day's totals come from the usage records in the database, so a restart
//! does not reset a daily budget; minute windows live in memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::AgentId;
use crate::config::inference::Budget;
use crate::db::{Db, usage};
use crate::inference::{ModelRef, Usage};

pub struct Meter {
    db: Db,
    agents: Mutex<HashMap<AgentId, Windows>>,
}

#[derive(Default)]
struct Windows {
    minute: Window,
    day: Window,
    /// The day `day` counts, `YYYY-MM-DD`; empty before the first request.
    day_name: String,
}

#[derive(Default, Clone, Copy)]
struct Window {
    /// Minutes (or days) since the epoch.
    start: u64,
    requests: u64,
    tokens: u64,
}

/// A limit of an agent's budget that is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    pub agent: AgentId,
    /// The budget field, e.g. `tokens_per_day`.
    pub limit: &'static str,
    pub max: u64,
    pub used: u64,
    pub resets_in: Duration,
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "agent '{}' has used its budget of {} {} ({} used); it renews in {}",
            self.agent,
            self.max,
            self.limit.replace('_', " "),
            self.used,
            humantime::format_duration(self.resets_in)
        )
    }
}

impl Meter {
    pub fn new(db: Db) -> Meter {
        Meter {
            db,
            agents: Mutex::new(HashMap::new()),
        }
    }

    /// Count a request of `agent` if its budget allows one more.
    pub fn admit(&self, agent: &AgentId, budget: &Budget) -> Result<(), Over> {
        self.with_windows(agent, |windows, clock| {
            let limits = [
                (
                    "requests_per_minute",
                    budget.requests_per_minute,
                    windows.minute.requests,
                    60,
                ),
                (
                    "tokens_per_minute",
                    budget.tokens_per_minute,
                    windows.minute.tokens,
                    60,
                ),
                (
                    "requests_per_day",
                    budget.requests_per_day,
                    windows.day.requests,
                    86_400,
                ),
                (
                    "tokens_per_day",
                    budget.tokens_per_day,
                    windows.day.tokens,
                    86_400,
                ),
            ];
            for (limit, max, used, period) in limits {
                if let Some(max) = max
                    && used >= max
                {
                    return Err(Over {
                        agent: agent.clone(),
                        limit,
                        max,
                        used,
                        resets_in: Duration::from_secs(period - clock.as_secs() % period),
                    });
                }
            }
            windows.count_request();
            Ok(())
        })
    }

    /// Count a request of `agent` beyond its budget, as a person allowed.
    pub fn admit_beyond_budget(&self, agent: &AgentId) {
        self.with_windows(agent, |windows, _| windows.count_request());
    }

    /// Count what an answered request spent, and keep it.
    pub fn record(&self, agent: &AgentId, model: &ModelRef, spent: Usage) {
        let day = self.with_windows(agent, |windows, _| {
            windows.minute.tokens += spent.total();
            windows.day.tokens += spent.total();
            windows.day_name.clone()
        });
        if let Err(e) = usage::record(&self.db, agent.as_str(), &day, model, spent) {
            tracing::warn!(agent = %agent, "cannot record inference usage: {e}");
        }
    }

    /// Run `f` on the windows of `agent`, moved to the current minute and
    /// day.
    fn with_windows<T>(&self, agent: &AgentId, f: impl FnOnce(&mut Windows, Duration) -> T) -> T {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (minute, day) = (clock.as_secs() / 60, clock.as_secs() / 86_400);
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        let windows = agents.entry(agent.clone()).or_default();
        if windows.minute.start != minute {
            windows.minute = Window {
                start: minute,
                ..Window::default()
            };
        }
        if windows.day_name.is_empty() || windows.day.start != day {
            let name = usage::today();
            let spent = usage::on_day(&self.db, agent.as_str(), &name).unwrap_or_else(|e| {
                tracing::warn!(agent = %agent, "cannot read today's inference usage: {e}");
                usage::Spent::default()
            });
            windows.day = Window {
                start: day,
                requests: spent.requests,
                tokens: spent.tokens(),
            };
            windows.day_name = name;
        }
        f(windows, clock)
    }
}

impl Windows {
    fn count_request(&mut self) {
        self.minute.requests += 1;
        self.day.requests += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_refuse_once_used_and_days_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let agent = AgentId::new("ops").unwrap();
        let model = ModelRef::try_from("local/m".to_owned()).unwrap();
        let budget = Budget {
            requests_per_minute: Some(2),
            tokens_per_day: Some(100),
            ..Budget::default()
        };
        let minute = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                / 60
        };
        let meter = Meter::new(db.clone());
        let started = minute();
        meter.admit(&agent, &budget).unwrap();
        meter.record(
            &agent,
            &model,
            Usage {
                prompt_tokens: 30,
                completion_tokens: 30,
            },
        );
        meter.admit(&agent, &budget).unwrap();
        let third = meter.admit(&agent, &budget);
        // Two requests a minute at most (unless the minute turned meanwhile).
        if minute() == started {
            let over = third.unwrap_err();
            assert_eq!(over.limit, "requests_per_minute");
            assert!(over.to_string().contains("2 requests per minute"), "{over}");
        }
        meter.record(
            &agent,
            &model,
            Usage {
                prompt_tokens: 50,
                completion_tokens: 0,
            },
        );

        let restarted = Meter::new(db);
        let over = restarted.admit(&agent, &budget).unwrap_err();
        assert_eq!(
            (over.limit, over.used, over.max),
            ("tokens_per_day", 110, 100)
        );
    }
}
