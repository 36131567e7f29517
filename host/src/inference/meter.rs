//! Metering: each agent's requests and tokens per minute and per day,
//! checked against its budget before a request; requests are counted when
//! admitted, tokens once answered. Counts are kept in the database, written
//! behind at most a second late (and when the meter is dropped), so that a
//! request does not wait for a write; the day's totals are read back from
//! there, so a restart does not reset a daily budget. Minute windows live
//! in memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::Budget;
use crate::db::usage::{self, Account, Spent};
use crate::db::{Db, DbError};
use crate::vocab::{AgentId, ModelRef, Usage};

/// Longest that counts wait in memory before they are written.
const WRITE_BEHIND: Duration = Duration::from_secs(1);

pub(super) struct Meter {
    db: Db,
    state: Mutex<State>,
}

struct State {
    agents: HashMap<AgentId, Windows>,
    /// Counts not yet written.
    unwritten: BTreeMap<Account, Spent>,
    written: Instant,
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
pub(super) struct Over {
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
    pub(super) fn new(db: Db) -> Meter {
        Meter {
            db,
            state: Mutex::new(State {
                agents: HashMap::new(),
                unwritten: BTreeMap::new(),
                written: Instant::now(),
            }),
        }
    }

    /// Count a request of `agent` if its budget allows one more.
    pub(super) fn admit(&self, agent: &AgentId, budget: &Budget) -> Result<(), Over> {
        self.with_windows(agent, |windows, unwritten, clock| {
            for (limit, max, used, period) in windows.limits(budget) {
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
            windows.count_request(agent, unwritten);
            Ok(())
        })
    }

    /// What is left of each limit `budget` sets for `agent`.
    pub(super) fn remaining(&self, agent: &AgentId, budget: &Budget) -> Vec<(&'static str, u64)> {
        self.with_windows(agent, |windows, _, _| {
            windows
                .limits(budget)
                .into_iter()
                .filter_map(|(limit, max, used, _)| Some((limit, max?.saturating_sub(used))))
                .collect()
        })
    }

    /// Count a request of `agent` beyond its budget, as a person allowed.
    pub(super) fn admit_beyond_budget(&self, agent: &AgentId) {
        self.with_windows(agent, |windows, unwritten, _| {
            windows.count_request(agent, unwritten)
        });
    }

    /// Count what an answered request spent.
    pub(super) fn record(&self, agent: &AgentId, model: &ModelRef, spent: Usage) {
        self.with_windows(agent, |windows, unwritten, _| {
            let tokens = spent.total();
            windows.minute.tokens = windows.minute.tokens.saturating_add(tokens);
            windows.day.tokens = windows.day.tokens.saturating_add(tokens);
            let account = Account {
                agent: agent.to_string(),
                day: windows.day_name.clone(),
                model: Some(model.to_string()),
            };
            unwritten.entry(account).or_default().add(&Spent {
                requests: 1,
                prompt_tokens: spent.prompt_tokens,
                completion_tokens: spent.completion_tokens,
            });
        });
    }

    /// What `agent` spent, per day and model, with every count written.
    pub(super) fn usage(
        &self,
        agent: &AgentId,
    ) -> Result<BTreeMap<(String, String), Spent>, DbError> {
        self.write(std::mem::take(&mut self.lock().unwritten))?;
        usage::list(&self.db, agent.as_str())
    }

    /// Write the counts not yet written.
    pub(super) fn flush(&self) {
        let counts = std::mem::take(&mut self.lock().unwritten);
        if let Err(e) = self.write(counts) {
            tracing::warn!("cannot record inference usage: {e}");
        }
    }

    /// Run `f` on the windows of `agent`, moved to the current minute and
    /// day, and on the counts not yet written; then write them if they
    /// waited long enough.
    fn with_windows<T>(
        &self,
        agent: &AgentId,
        f: impl FnOnce(&mut Windows, &mut BTreeMap<Account, Spent>, Duration) -> T,
    ) -> T {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (minute, day) = (clock.as_secs() / 60, clock.as_secs() / 86_400);
        let (result, due) = {
            let mut state = self.lock();
            let State {
                agents, unwritten, ..
            } = &mut *state;
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
                    Spent::default()
                });
                windows.day = Window {
                    start: day,
                    requests: spent.requests,
                    tokens: spent.tokens(),
                };
                windows.day_name = name;
            }
            let result = f(windows, unwritten, clock);
            let due = state.written.elapsed() >= WRITE_BEHIND;
            if due {
                state.written = Instant::now();
            }
            (result, due.then(|| std::mem::take(&mut state.unwritten)))
        };
        if let Some(counts) = due
            && let Err(e) = self.write(counts)
        {
            tracing::warn!("cannot record inference usage: {e}");
        }
        result
    }

    fn write(&self, counts: BTreeMap<Account, Spent>) -> Result<(), DbError> {
        usage::add(&self.db, &counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Windows {
    /// Each limit of `budget`: its name, maximum, use and period (seconds).
    fn limits(&self, budget: &Budget) -> [(&'static str, Option<u64>, u64, u64); 4] {
        [
            (
                "requests_per_minute",
                budget.requests_per_minute,
                self.minute.requests,
                60,
            ),
            (
                "tokens_per_minute",
                budget.tokens_per_minute,
                self.minute.tokens,
                60,
            ),
            (
                "requests_per_day",
                budget.requests_per_day,
                self.day.requests,
                86_400,
            ),
            (
                "tokens_per_day",
                budget.tokens_per_day,
                self.day.tokens,
                86_400,
            ),
        ]
    }

    fn count_request(&mut self, agent: &AgentId, unwritten: &mut BTreeMap<Account, Spent>) {
        self.minute.requests = self.minute.requests.saturating_add(1);
        self.day.requests = self.day.requests.saturating_add(1);
        let account = Account {
            agent: agent.to_string(),
            day: self.day_name.clone(),
            model: None,
        };
        unwritten.entry(account).or_default().requests += 1;
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
        // Counts written behind are written when the meter goes.
        drop(meter);

        let restarted = Meter::new(db);
        let over = restarted.admit(&agent, &budget).unwrap_err();
        assert_eq!(
            (over.limit, over.used, over.max),
            ("tokens_per_day", 110, 100)
        );
    }
}
