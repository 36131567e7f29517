//! Sharing one backend among agents: at most `capacity` requests in flight,
//! the rest waiting in a weighted fair queue.
//!
//! The queue is start-time fair queueing. Each request gets a start tag:
//! the later of the queue's virtual time and the finish tag of its agent's
//! previous request; its finish tag is the start plus `1 / weight`. The
//! waiting request with the smallest start tag goes first. An agent that
//! floods the queue pushes only its own tags ahead; an agent that was idle
//! starts at the current virtual time, so it waits for at most one request
//! of each busy agent, and cannot bank credit while idle.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::vocab::AgentId;

/// The virtual cost of one request at weight 1.
const UNIT: u64 = 1 << 20;

pub(super) struct FairQueue {
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// The start tag of the request dispatched last.
    virtual_time: u64,
    /// Each agent's finish tag of its latest request.
    finish: HashMap<AgentId, u64>,
    waiting: BinaryHeap<Reverse<Waiter>>,
    arrivals: u64,
}

struct Waiter {
    start: u64,
    /// Arrival order, among equal start tags.
    arrival: u64,
    wake: oneshot::Sender<Permit>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.start, self.arrival) == (other.start, other.arrival)
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start, self.arrival).cmp(&(other.start, other.arrival))
    }
}

/// A place in flight. Dropping it lets the next request go.
pub(super) struct Permit {
    queue: Arc<FairQueue>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.queue.lock().free += 1;
        self.queue.dispatch();
    }
}

/// A request that leaves the queue before its turn hands its agent's tag
/// back, if no later request of the agent took it meanwhile: giving up does
/// not cost the agent its share.
struct GaveUp<'a> {
    queue: &'a FairQueue,
    agent: &'a AgentId,
    start: u64,
    finish: u64,
    armed: bool,
}

impl Drop for GaveUp<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.queue.lock();
        if state.finish.get(self.agent) == Some(&self.finish) {
            state.finish.insert(self.agent.clone(), self.start);
        }
    }
}

impl FairQueue {
    pub(super) fn new(capacity: usize) -> Arc<FairQueue> {
        Arc::new(FairQueue {
            state: Mutex::new(State {
                free: capacity,
                virtual_time: 0,
                finish: HashMap::new(),
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        })
    }

    /// Wait for a place in flight for a request of `agent`. Dropping the
    /// future gives up the place in the queue.
    pub(super) async fn acquire(self: &Arc<Self>, agent: &AgentId, weight: u32) -> Permit {
        let (woken, start, finish) = {
            let mut state = self.lock();
            let cost = UNIT / u64::from(weight.max(1));
            let previous = state.finish.get(agent).copied().unwrap_or(0);
            let start = previous.max(state.virtual_time);
            let finish = start + cost;
            state.finish.insert(agent.clone(), finish);
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                state.virtual_time = start;
                return Permit {
                    queue: self.clone(),
                };
            }
            let (wake, woken) = oneshot::channel();
            state.arrivals += 1;
            let arrival = state.arrivals;
            state.waiting.push(Reverse(Waiter {
                start,
                arrival,
                wake,
            }));
            (woken, start, finish)
        };
        let mut gave_up = GaveUp {
            queue: self,
            agent,
            start,
            finish,
            armed: true,
        };
        self.dispatch();
        // The sender is dropped unanswered only once this receiver is gone.
        let permit = woken.await.expect("a waiting request is always answered");
        gave_up.armed = false;
        permit
    }

    /// Hand free places to the waiting requests with the smallest tags.
    fn dispatch(self: &Arc<Self>) {
        // Places handed to requests that gave up meanwhile come back here,
        // to be dropped once the lock is released.
        let mut returned = Vec::new();
        {
            let mut state = self.lock();
            while state.free > 0 {
                let Some(Reverse(waiter)) = state.waiting.pop() else {
                    break;
                };
                if waiter.wake.is_closed() {
                    continue;
                }
                state.free -= 1;
                state.virtual_time = waiter.start;
                let permit = Permit {
                    queue: self.clone(),
                };
                if let Err(permit) = waiter.wake.send(permit) {
                    returned.push(permit);
                }
            }
        }
        drop(returned);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn agent(id: &str) -> AgentId {
        AgentId::new(id).unwrap()
    }

    /// The order in which queued requests of (agent, weight) get a place,
    /// one place at a time.
    async fn order(requests: &[(&str, u32)]) -> Vec<String> {
        let queue = FairQueue::new(1);
        let blocker = queue.acquire(&agent("blocker"), 1).await;
        let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
        for (i, (id, weight)) in requests.iter().enumerate() {
            let (queue, done, id, weight) = (queue.clone(), done.clone(), id.to_string(), *weight);
            tokio::spawn(async move {
                let _permit = queue.acquire(&agent(&id), weight).await;
                done.send(format!("{id}{i}")).unwrap();
            });
            // Arrive in order.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(blocker);
        let mut served = Vec::new();
        for _ in requests {
            served.push(finished.recv().await.unwrap());
        }
        served
    }

    #[tokio::test]
    async fn a_flooding_agent_does_not_starve_another() {
        let mut requests = vec![("a", 1); 6];
        requests.push(("b", 1));
        let served = order(&requests).await;
        // b arrived last, behind six of a's, and goes second.
        assert_eq!(served[1], "b6", "{served:?}");
    }

    #[tokio::test]
    async fn weights_divide_the_backend() {
        let mut requests = vec![("a", 3); 6];
        requests.extend(vec![("b", 1); 6]);
        let served = order(&requests).await;
        let a_in_first_eight = served[..8].iter().filter(|s| s.starts_with('a')).count();
        assert_eq!(a_in_first_eight, 6, "{served:?}");
    }

    #[tokio::test]
    async fn giving_up_does_not_cost_an_agent_its_share() {
        let queue = FairQueue::new(1);
        let held = queue.acquire(&agent("blocker"), 1).await;
        // Five requests of `a` give up while queued; then `a` and `b` queue.
        let a = agent("a");
        for _ in 0..5 {
            let gave_up = tokio::time::timeout(Duration::from_millis(5), queue.acquire(&a, 1));
            assert!(gave_up.await.is_err());
        }
        let (served, mut order) = tokio::sync::mpsc::unbounded_channel();
        for id in ["a", "b"] {
            let (queue, served) = (queue.clone(), served.clone());
            tokio::spawn(async move {
                let _permit = queue.acquire(&agent(id), 1).await;
                served.send(id).unwrap();
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(held);
        // Both start at the same virtual time, and `a` arrived first: the
        // requests it gave up cost it nothing.
        assert_eq!(order.recv().await, Some("a"));
        assert_eq!(order.recv().await, Some("b"));
    }

    #[tokio::test]
    async fn a_request_that_gives_up_frees_its_place_in_line() {
        let queue = FairQueue::new(1);
        let held = queue.acquire(&agent("a"), 1).await;
        let gave_up =
            tokio::time::timeout(Duration::from_millis(10), queue.acquire(&agent("b"), 1)).await;
        assert!(gave_up.is_err());
        drop(held);
        let c = agent("c");
        let next = tokio::time::timeout(Duration::from_secs(5), queue.acquire(&c, 1));
        assert!(next.await.is_ok(), "the place went to a request that left");
    }
}
