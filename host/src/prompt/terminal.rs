//! Prompts on the terminal `skillbox` runs in, answered with one key.
//! Prompts from concurrent calls take turns.

use std::io::Write;
use std::time::{Duration, SystemTime};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal;

use crate::consent::{Answer, Answered, ChannelError, Prompt, PromptChannel, Scope};
use crate::vocab::printable;

pub(super) const KEYS: &str = "[y] allow once  [s] for this session  [h] for an hour  \
                        [2-9] that many times  [a] always  [n] deny  [N] deny always";

#[derive(Default)]
pub(crate) struct Terminal {
    turn: tokio::sync::Mutex<()>,
}

/// Held while a prompt is on the terminal: whoever else writes to it (a
/// chat streaming an answer, say) takes it first, so that nothing is
/// printed into a prompt.
static SCREEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold the terminal for writing, waiting for a prompt on it to end.
pub(crate) fn hold_screen() -> std::sync::MutexGuard<'static, ()> {
    SCREEN.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait::async_trait]
impl PromptChannel for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }

    async fn ask(&self, prompt: &Prompt) -> Result<Answered, ChannelError> {
        let _turn = self.turn.lock().await;
        let prompt = prompt.clone();
        let answer = tokio::task::spawn_blocking(move || ask_blocking(&prompt))
            .await
            .map_err(|e| ChannelError::Failed(e.to_string()))??;
        Ok(Answered {
            answer,
            by: "the terminal".into(),
        })
    }
}

fn ask_blocking(prompt: &Prompt) -> Result<Answer, ChannelError> {
    let _screen = hold_screen();
    let failed = |e: std::io::Error| ChannelError::Failed(format!("terminal: {e}"));
    // Raw mode first, so that a key pressed as soon as the prompt shows is
    // read as a key; lines then end in \r\n.
    terminal::enable_raw_mode().map_err(failed)?;
    let mut out = std::io::stderr();
    let text = format!("\n? {}\n  {KEYS} ", printable(&prompt.to_string())).replace('\n', "\r\n");
    let key = out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(failed)
        .and_then(|()| read_answer(prompt.expires_at));
    let _ = terminal::disable_raw_mode();
    let shown = match &key {
        Ok(answer) => answer.to_string(),
        Err(e) => format!("denied: {e}"),
    };
    let _ = writeln!(out, "\n  -> {shown}");
    key
}

fn read_answer(deadline: SystemTime) -> Result<Answer, ChannelError> {
    loop {
        let left = deadline
            .duration_since(SystemTime::now())
            .map_err(|_| ChannelError::Timeout)?;
        let ready = event::poll(left.min(Duration::from_millis(200)))
            .map_err(|e| ChannelError::Failed(e.to_string()))?;
        if !ready {
            continue;
        }
        let Event::Key(KeyEvent {
            code: KeyCode::Char(c),
            kind: KeyEventKind::Press,
            modifiers,
            ..
        }) = event::read().map_err(|e| ChannelError::Failed(e.to_string()))?
        else {
            continue;
        };
        if modifiers.contains(KeyModifiers::CONTROL) && c == 'c' {
            return Ok(Answer::DENY);
        }
        if let Some(answer) = answer_for(c) {
            return Ok(answer);
        }
    }
}

/// The answer a key stands for.
pub(super) fn answer_for(key: char) -> Option<Answer> {
    let allow = |scope| Some(Answer::new(true, scope));
    match key {
        'y' => allow(Scope::Once),
        's' => allow(Scope::Session),
        'h' => allow(Scope::For {
            duration: Duration::from_secs(3600),
        }),
        '2'..='9' => allow(Scope::Times {
            times: key.to_digit(10).unwrap_or(1),
        }),
        'a' => allow(Scope::Always),
        'n' => Some(Answer::DENY),
        'N' => Some(Answer::new(false, Scope::Always)),
        _ => None,
    }
}
