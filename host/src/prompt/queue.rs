//! Prompts waiting in the host for an answer from elsewhere: the HTTP API
//! lists and answers them. Any number may be pending, across agents; each
//! caller waits only for its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, oneshot};

use crate::consent::{Answer, Answered, ChannelError, Prompt, PromptChannel};

struct Pending {
    prompt: Prompt,
    reply: oneshot::Sender<Answered>,
}

pub struct PromptQueue {
    pending: Mutex<BTreeMap<String, Pending>>,
    /// Who waits for an answer to be on record, by prompt id.
    recording: Mutex<HashMap<String, oneshot::Sender<()>>>,
    asked: broadcast::Sender<Prompt>,
}

/// An answer that did not reach its prompt.
#[derive(Debug, thiserror::Error)]
pub enum Unanswered {
    #[error("no pending prompt '{0}'")]
    NotPending(String),
    #[error("prompt '{0}' was given up")]
    GivenUp(String),
    #[error("prompt '{0}' was given up before its answer was recorded")]
    NotRecorded(String),
}

/// Longest wait for an answer to be on record once given.
const RECORDING: Duration = Duration::from_secs(10);

impl Default for PromptQueue {
    fn default() -> Self {
        Self {
            pending: Mutex::new(BTreeMap::new()),
            recording: Mutex::new(HashMap::new()),
            asked: broadcast::channel(1024).0,
        }
    }
}

impl PromptQueue {
    /// The prompts waiting for an answer, oldest first.
    pub fn pending(&self) -> Vec<Prompt> {
        let mut prompts: Vec<Prompt> = self.lock().values().map(|p| p.prompt.clone()).collect();
        prompts.sort_by_key(|p| p.asked_at);
        prompts
    }

    /// The prompt `id`, if it is pending.
    pub fn get(&self, id: &str) -> Option<Prompt> {
        self.lock().get(id).map(|p| p.prompt.clone())
    }

    /// Answer the prompt `id` as `by` (who answers, for the audit), and
    /// wait until the answer is on record: a grant it makes is stored
    /// before this returns.
    pub async fn answer(&self, id: &str, answer: Answer, by: String) -> Result<(), Unanswered> {
        let pending = self
            .lock()
            .remove(id)
            .ok_or_else(|| Unanswered::NotPending(id.to_owned()))?;
        let (done, recorded) = oneshot::channel();
        self.lock_recording().insert(id.to_owned(), done);
        if pending.reply.send(Answered { answer, by }).is_err() {
            self.lock_recording().remove(id);
            return Err(Unanswered::GivenUp(id.to_owned()));
        }
        let on_record = tokio::time::timeout(RECORDING, recorded).await;
        self.lock_recording().remove(id);
        match on_record {
            Ok(Ok(())) => Ok(()),
            _ => Err(Unanswered::NotRecorded(id.to_owned())),
        }
    }

    /// Every prompt as it is asked.
    pub fn subscribe(&self) -> broadcast::Receiver<Prompt> {
        self.asked.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_recording(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<()>>> {
        self.recording.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a prompt from the queue when dropped.
struct Withdraw<'a> {
    queue: &'a PromptQueue,
    id: &'a str,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.queue.lock().remove(self.id);
    }
}

#[async_trait::async_trait]
impl PromptChannel for PromptQueue {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn ask(&self, prompt: &Prompt) -> Result<Answered, ChannelError> {
        let (reply, answer) = oneshot::channel();
        self.lock().insert(
            prompt.id.clone(),
            Pending {
                prompt: prompt.clone(),
                reply,
            },
        );
        // However this ends (answer, timeout, or the caller giving up), the
        // prompt is no longer pending.
        let _pending = Withdraw {
            queue: self,
            id: &prompt.id,
        };
        let _ = self.asked.send(prompt.clone());
        let left = prompt
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        match tokio::time::timeout(left, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ChannelError::Failed("the queue was dropped".into())),
            Err(_) => Err(ChannelError::Timeout),
        }
    }

    fn recorded(&self, prompt: &Prompt) {
        if let Some(done) = self.lock_recording().remove(&prompt.id) {
            let _ = done.send(());
        }
    }
}
