//! The consent broker: what happens when a call needs a capability its
//! agent's configuration does not grant, or (in mode `always`) before every
//! tool call.
//!
//! A remembered answer decides first (a deny wins over an allow); then the
//! agent's mode (`deny` refuses); then a person, through the attached
//! prompt channel, within the agent's timeout. No channel means the agent's
//! fallback, deny unless configured. Only a person's answer (or the
//! operator, through configuration or the CLI) creates a grant: nothing a
//! skill or a model sends can. Every decision goes to the audit log.

mod prompt;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use prometheus_client::metrics::gauge::Gauge;

use crate::db::Db;
use crate::db::audit::{self, AuditEntry, Event};
use crate::db::grants::{self, Grant};
use crate::metrics::{AnswerLabels, Metrics};
use crate::redact::SecretScanner;
use crate::vocab::{AgentId, Capability, ConsentSettings, Deadline, Fallback, Mode, truncate};

pub use prompt::{Answer, Prompt, Scope};
pub(crate) use prompt::{Answered, ChannelError, PromptChannel};

/// Longest argument text shown in a prompt.
const MAX_ARGUMENTS: usize = 500;

/// A session: one CLI run, one conversation. "Allow for this session"
/// lasts as long as it does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Session(Arc<str>);

impl Session {
    pub fn new(id: &str) -> Session {
        Session(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outcome of asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied(String),
}

pub struct ConsentBroker {
    db: Db,
    metrics: Arc<Metrics>,
    channel: RwLock<Option<Arc<dyn PromptChannel>>>,
    /// Grants that last a session: never written to disk.
    session_grants: Mutex<Vec<(Session, AgentId, Grant)>>,
}

impl ConsentBroker {
    pub fn new(db: Db, metrics: Arc<Metrics>) -> ConsentBroker {
        ConsentBroker {
            db,
            metrics,
            channel: RwLock::new(None),
            session_grants: Mutex::new(Vec::new()),
        }
    }

    /// Attach the channel prompts go through from now on.
    pub fn attach(&self, channel: Arc<dyn PromptChannel>) {
        *self.channel.write().unwrap_or_else(|e| e.into_inner()) = Some(channel);
    }

    fn channel(&self) -> Option<Arc<dyn PromptChannel>> {
        self.channel
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The session grants of `agent` still in force.
    pub fn session_grants(&self, agent: &AgentId) -> Vec<Grant> {
        let now = SystemTime::now();
        self.lock_sessions()
            .iter()
            .filter(|(_, a, g)| a == agent && !g.is_expired(now))
            .map(|(_, _, g)| g.clone())
            .collect()
    }

    /// Revoke a grant, remembered or of a session, on `by`'s word; whether
    /// there was one. The revocation is on record when this returns.
    pub async fn revoke(
        &self,
        agent: &AgentId,
        id: &str,
        by: &str,
    ) -> Result<bool, crate::db::DbError> {
        let mut session = None;
        self.lock_sessions().retain(|(_, a, g)| {
            let this = a == agent && g.id == id;
            if this {
                session = Some(g.clone());
            }
            !this
        });
        let listed = grants::list(&self.db, agent.as_str())?
            .into_iter()
            .find(|g| g.id == id);
        let removed = grants::revoke(&self.db, agent.as_str(), id).await?;
        let grant = listed.or(session);
        if !removed && grant.is_none() {
            return Ok(false);
        }
        let mut entry = AuditEntry {
            grant: Some(id.to_owned()),
            by: Some(by.to_owned()),
            ..AuditEntry::new(Event::Revoke, agent.as_str(), "revoked")
        };
        if let Some(grant) = grant {
            entry.skill = grant.skill;
            entry.capability = grant.capability.to_string();
            entry.reason = format!("made by {}", grant.by);
        }
        audit::append_durably(&self.db, entry).await?;
        Ok(true)
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Vec<(Session, AgentId, Grant)>> {
        self.session_grants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A remembered answer about `capability` for `skill`, used once: a
    /// deny wins over an allow.
    async fn remembered(&self, call: &CallConsent, capability: &Capability) -> Option<Grant> {
        let now = SystemTime::now();
        let matches = |g: &Grant| g.skill == *call.skill && g.capability.covers(capability);
        let mut candidates: Vec<Grant> = self
            .lock_sessions()
            .iter()
            .filter(|(s, a, g)| {
                *s == call.session && *a == call.agent && matches(g) && !g.is_expired(now)
            })
            .map(|(_, _, g)| g.clone())
            .collect();
        match grants::list(&self.db, call.agent.as_str()) {
            Ok(stored) => candidates.extend(stored.into_iter().filter(matches)),
            Err(e) => tracing::warn!(agent = %call.agent, "cannot read grants: {e}"),
        }
        if let Some(deny) = candidates.iter().find(|g| !g.allow) {
            return Some(deny.clone());
        }
        for grant in candidates {
            if self.use_grant(&call.agent, &grant).await {
                return Some(grant);
            }
        }
        None
    }

    /// Take one use of `grant`; false if it ran out meanwhile. Session
    /// grants are not counted.
    async fn use_grant(&self, agent: &AgentId, grant: &Grant) -> bool {
        let in_session = self
            .lock_sessions()
            .iter()
            .any(|(_, a, g)| a == agent && g.id == grant.id);
        in_session
            || grants::use_once(&self.db, agent.as_str(), &grant.id)
                .await
                .unwrap_or(false)
    }

    /// Remember `answer` about `prompt`'s capability, as its scope says. A
    /// grant is on record, on disk, before it takes effect.
    async fn remember(&self, call: &CallConsent, prompt: &Prompt, answer: Answer, by: &str) {
        let id = match self.db.generate_id() {
            Ok(n) => format!("g{n}"),
            Err(e) => {
                tracing::warn!("cannot number a grant: {e}");
                return;
            }
        };
        let mut grant = Grant {
            id,
            skill: call.skill.to_string(),
            capability: match answer.any_details {
                true => prompt.capability.clone().any_details(),
                false => prompt.capability.clone(),
            },
            allow: answer.allow,
            created_at: SystemTime::now(),
            expires_at: None,
            uses_left: None,
            by: by.to_owned(),
        };
        match answer.scope {
            Scope::Once => return,
            Scope::Session | Scope::Always => {}
            Scope::For { duration } => grant = grant.expiring_in(duration),
            // This use is the first of them.
            Scope::Times { times } if times <= 1 => return,
            Scope::Times { times } => grant.uses_left = Some(times - 1),
        }
        let entry = AuditEntry {
            grant: Some(grant.id.clone()),
            by: Some(by.to_owned()),
            ..call.entry(
                Event::Grant,
                &grant.capability.to_string(),
                decision(answer.allow),
                answer.to_string(),
            )
        };
        if let Err(e) = audit::append_durably(&self.db, entry).await {
            tracing::error!(agent = %call.agent, "no grant made, it cannot be recorded: {e}");
            return;
        }
        if answer.scope == Scope::Session {
            self.lock_sessions()
                .push((call.session.clone(), call.agent.clone(), grant));
        } else if let Err(e) = grants::add(&self.db, call.agent.as_str(), &grant).await {
            tracing::warn!(agent = %call.agent, "cannot store a grant: {e}");
        }
    }

    /// Put `entry` on record.
    fn audit(&self, entry: AuditEntry) {
        audit::append(&self.db, entry);
    }
}

/// The word for a decision.
fn decision(allow: bool) -> &'static str {
    if allow { "allowed" } else { "denied" }
}

/// Counts a prompt as pending while it lives.
struct Pending<'a>(&'a Gauge);

impl<'a> Pending<'a> {
    fn new(gauge: &'a Gauge) -> Pending<'a> {
        gauge.inc();
        Pending(gauge)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The consent side of one call: who asks, in which session, for what.
#[derive(Clone)]
pub struct CallConsent {
    broker: Arc<ConsentBroker>,
    agent: AgentId,
    settings: Arc<ConsentSettings>,
    session: Session,
    skill: Arc<str>,
    tool: Arc<str>,
    /// The call's input, shown (masked and cut) in prompts; kept only
    /// where a prompt may be asked.
    input: Option<Arc<str>>,
    /// The agent's secrets, masked in prompts.
    scanner: Arc<SecretScanner>,
    /// Pushed back by the time spent waiting for a person.
    deadline: Deadline,
}

impl CallConsent {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        broker: Arc<ConsentBroker>,
        agent: AgentId,
        settings: Arc<ConsentSettings>,
        session: Session,
        skill: Arc<str>,
        tool: &str,
        input: &str,
        scanner: Arc<SecretScanner>,
        deadline: Deadline,
    ) -> CallConsent {
        CallConsent {
            broker,
            agent,
            session,
            skill,
            tool: tool.into(),
            input: (settings.mode != Mode::Deny).then(|| input.into()),
            settings,
            scanner,
            deadline,
        }
    }

    pub fn mode(&self) -> Mode {
        self.settings.mode
    }

    /// Decide about `capability`, which the call does not hold: by a
    /// remembered answer, the mode, or a person.
    pub async fn decide(&self, capability: Capability, reason: &str) -> Verdict {
        self.decide_with(capability, reason, self.settings.fallback)
            .await
    }

    /// Like [`CallConsent::decide`], but with nobody to ask the answer is
    /// no, whatever the agent's fallback: for limits that only a person may
    /// lift, such as budgets.
    pub async fn decide_by_a_person(&self, capability: Capability, reason: &str) -> Verdict {
        self.decide_with(capability, reason, Fallback::Deny).await
    }

    async fn decide_with(
        &self,
        capability: Capability,
        reason: &str,
        fallback: Fallback,
    ) -> Verdict {
        // What a skill asks about may carry a secret in any field; prompts,
        // grants and the audit only ever see it masked.
        let capability = capability.map_text(|text| self.scanner.mask(text));
        let reason = &self.scanner.mask(reason);
        let broker = &self.broker;
        let class = capability.to_string();
        if let Some(grant) = broker.remembered(self, &capability).await {
            let verdict = if grant.allow {
                Verdict::Allowed
            } else {
                Verdict::Denied(format!("{class} was denied by grant {}", grant.id))
            };
            broker.audit(AuditEntry {
                grant: Some(grant.id),
                by: Some(grant.by),
                ..self.entry(
                    Event::GrantUsed,
                    &class,
                    decision(grant.allow),
                    "remembered answer".into(),
                )
            });
            return verdict;
        }
        if self.settings.mode == Mode::Deny {
            self.refuse(&class, format!("{reason} (consent mode deny)"));
            return Verdict::Denied(reason.to_owned());
        }
        let Some(channel) = broker.channel() else {
            return match fallback {
                Fallback::Deny => self.refuse(&class, format!("{reason}; no one to ask")),
                Fallback::AllowOnce => {
                    let why = "no one to ask; fallback allow-once".into();
                    broker.audit(self.entry(Event::Decision, &class, "allowed", why));
                    Verdict::Allowed
                }
            };
        };
        self.ask(channel, capability, reason).await
    }

    /// Ask a person through `channel`, and record the prompt and the
    /// answer, and the grant the answer makes when its scope outlasts this
    /// use.
    async fn ask(
        &self,
        channel: Arc<dyn PromptChannel>,
        capability: Capability,
        reason: &str,
    ) -> Verdict {
        let broker = &self.broker;
        let class = capability.to_string();
        let prompt = match self.prompt(capability, reason) {
            Ok(prompt) => prompt,
            Err(e) => return self.refuse(&class, format!("cannot ask: {e}")),
        };
        broker.audit(AuditEntry {
            channel: Some(channel.name().into()),
            ..self.entry(
                Event::Prompt,
                &class,
                "asked",
                format!("prompt {}: {reason}", prompt.id),
            )
        });
        let waiting = Instant::now();
        let answered = {
            let _pending = Pending::new(&broker.metrics.prompts_pending);
            channel.ask(&prompt).await
        };
        self.deadline.extend(waiting.elapsed());
        let answer_label = match &answered {
            Ok(answered) if answered.answer.allow => "allow",
            Ok(_) => "deny",
            Err(ChannelError::Timeout) => "timeout",
            Err(ChannelError::Failed(_)) => "failed",
        };
        broker
            .metrics
            .prompts_answered
            .get_or_create(&AnswerLabels {
                agent: broker.metrics.agent(&self.agent),
                answer: answer_label.into(),
            })
            .inc();
        let answer_entry = |allow, reason: String, by: Option<String>| AuditEntry {
            channel: Some(channel.name().into()),
            by,
            ..self.entry(Event::Answer, &class, decision(allow), reason)
        };
        match answered {
            Ok(Answered { answer, by }) => {
                let why = format!("prompt {}: {answer}", prompt.id);
                broker.audit(answer_entry(answer.allow, why, Some(by.clone())));
                broker.remember(self, &prompt, answer, &by).await;
                // The answer is on record: whoever gave it may say so.
                channel.recorded(&prompt);
                match answer.allow {
                    true => Verdict::Allowed,
                    false => Verdict::Denied(format!("{class} was denied by a person")),
                }
            }
            Err(ChannelError::Timeout) => {
                let why = format!("prompt {}: no answer in time", prompt.id);
                broker.audit(answer_entry(false, why, None));
                Verdict::Denied(format!(
                    "{class}: no answer within {}",
                    humantime::format_duration(self.settings.timeout)
                ))
            }
            Err(ChannelError::Failed(e)) => self.refuse(&class, format!("cannot ask: {e}")),
        }
    }

    /// Record a refusal made without asking, and return it. A door like
    /// [`CallConsent::decide`]: what it is told is masked here.
    pub fn refuse(&self, capability: &str, reason: String) -> Verdict {
        let reason = self.scanner.mask(&reason);
        let capability = self.scanner.mask(capability);
        let entry = self.entry(Event::Decision, &capability, "denied", reason.clone());
        self.broker.audit(entry);
        Verdict::Denied(reason)
    }

    /// An entry about this call, from texts already masked at the doors
    /// (`decide`, `refuse`).
    fn entry(&self, event: Event, capability: &str, decision: &str, reason: String) -> AuditEntry {
        AuditEntry {
            skill: self.skill.to_string(),
            tool: self.tool.to_string(),
            capability: capability.to_owned(),
            reason,
            ..AuditEntry::new(event, self.agent.as_str(), decision)
        }
    }

    fn prompt(&self, capability: Capability, reason: &str) -> Result<Prompt, crate::db::DbError> {
        let asked_at = SystemTime::now();
        Ok(Prompt {
            id: format!("p{}", self.broker.db.generate_id()?),
            agent: self.agent.clone(),
            skill: self.skill.to_string(),
            tool: self.tool.to_string(),
            capability,
            arguments: truncate(
                &self.scanner.mask(self.input.as_deref().unwrap_or_default()),
                MAX_ARGUMENTS,
            ),
            reason: reason.to_owned(),
            asked_at,
            expires_at: asked_at + self.settings.timeout,
        })
    }
}
