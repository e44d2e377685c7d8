//! Events: subscriptions filtered by label, and a stream a test can cut, hold or refuse.

use super::FakeRuntime;
use crate::runtime::*;

impl FakeRuntime {
    /// End every open event stream with an error, as a dropped connection does.
    pub fn cut_events(&self) {
        let mut s = self.lock();
        for sub in s.subscribers.drain(..) {
            let _ = sub.tx.send(Err(EngineError::Unreachable(
                "event stream connection reset".into(),
            )));
        }
    }

    /// While refused, a new subscription ends at once with an error.
    pub fn refuse_events(&self, refused: bool) {
        self.lock().events_refused = refused;
    }

    /// While held, events are queued instead of delivered (an event pipeline that lags).
    pub fn hold_events(&self, held: bool) {
        self.lock().events_held = held;
    }

    /// Deliver every held event, in order, and stop holding.
    pub fn release_events(&self) {
        let mut s = self.lock();
        s.events_held = false;
        while let Some(e) = s.held.pop_front() {
            s.deliver(e);
        }
    }

    /// Forget every held event, as if the engine never sent them.
    pub fn drop_held_events(&self) {
        self.lock().held.clear();
    }

    /// Send an arbitrary event about a container (live or removed), e.g. a die event
    /// without an exit code, or one that arrives before the state changes.
    pub fn inject_event(&self, id_or_name: &str, kind: ContainerEventKind) -> bool {
        let mut s = self.lock();
        let idx = s
            .find(id_or_name)
            .or_else(|| s.containers.iter().rposition(|c| c.id == id_or_name));
        match idx {
            Some(i) => {
                s.emit(i, kind);
                true
            }
            None => false,
        }
    }

    /// How many event subscriptions were ever opened.
    pub fn subscriptions_opened(&self) -> usize {
        self.lock().subscriptions_opened
    }

    /// How many event subscriptions are open now.
    pub fn active_subscriptions(&self) -> usize {
        let mut s = self.lock();
        s.subscribers.retain(|sub| !sub.tx.is_closed());
        s.subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::answers::tests::body;
    use futures::stream::StreamExt;

    #[tokio::test]
    async fn events_are_filtered_by_label_and_can_be_cut() {
        let fake = FakeRuntime::with("net", "img");
        let mut mine = fake.events(&[LabelFilter::eq("io.berth.site", "a")]);
        let id_a = fake.create("a", &body("img", "a"), None).await.unwrap();
        let _id_b = fake.create("b", &body("img", "b"), None).await.unwrap();
        fake.start(&id_a).await.unwrap();
        fake.exit(&id_a, 0);
        let kinds: Vec<_> = [mine.next().await, mine.next().await, mine.next().await]
            .into_iter()
            .map(|e| e.unwrap().unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ContainerEventKind::Other("create".into()),
                ContainerEventKind::Start,
                ContainerEventKind::Die { exit_code: Some(0) }
            ]
        );
        fake.cut_events();
        assert!(mine.next().await.unwrap().is_err());
        assert!(mine.next().await.is_none());
        assert_eq!(fake.subscriptions_opened(), 1);
        assert_eq!(fake.active_subscriptions(), 0);
    }
}
