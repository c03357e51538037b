//! One tab per node id: a Web Lock named after the node, held while the node runs. A second
//! tab on the same id is refused the lock (`ifAvailable`) instead of waiting for it.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A held lock; released by [`NodeLock::release`] or when the page goes away.
pub struct NodeLock {
    release: Rc<RefCell<Option<Function>>>,
}

impl NodeLock {
    /// Takes the lock `name` if no other tab (or caller) holds it: `Ok(None)` if one does.
    /// Fails where the browser has no Web Locks (they need a secure context: https, or http on
    /// localhost).
    pub async fn acquire(name: &str) -> Result<Option<NodeLock>, JsValue> {
        let navigator = Reflect::get(&js_sys::global(), &"navigator".into())?;
        let locks = Reflect::get(&navigator, &"locks".into())?;
        if locks.is_undefined() {
            return Err(JsValue::from_str("this page has no Web Locks (it needs https, or http on localhost)"));
        }
        let request: Function = Reflect::get(&locks, &"request".into())?.dyn_into()?;
        let options = Object::new();
        Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)?;
        let release = Rc::new(RefCell::new(None));
        let holder = Rc::clone(&release);
        let mut failure = None;
        let decided = Promise::new(&mut |decide, reject| {
            let holder = Rc::clone(&holder);
            // Called with the lock, or with null when another holder has it. The lock is held
            // until the promise this returns settles.
            let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
                if lock.is_null() {
                    let _ = decide.call1(&JsValue::NULL, &JsValue::FALSE);
                    return Promise::resolve(&JsValue::UNDEFINED).into();
                }
                let held = Promise::new(&mut |release, _| {
                    *holder.borrow_mut() = Some(release);
                });
                let _ = decide.call1(&JsValue::NULL, &JsValue::TRUE);
                held.into()
            });
            if let Err(error) = request.call3(&locks, &JsValue::from_str(name), &options, &callback) {
                let _ = reject.call1(&JsValue::NULL, &error);
                failure = Some(());
            }
        });
        let granted = JsFuture::from(decided).await?.as_bool().unwrap_or(false);
        Ok((granted && failure.is_none()).then_some(NodeLock { release }))
    }

    pub fn release(&self) {
        if let Some(release) = self.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::*;

    wasm_bindgen_test_configure!(run_in_browser);

    #[wasm_bindgen_test]
    async fn a_second_holder_of_a_node_id_is_refused_until_the_first_lets_go() {
        let name = format!("tabcoin-lock-test-{}", (js_sys::Math::random() * 1e15) as u64);
        let first = NodeLock::acquire(&name).await.unwrap().expect("a free lock is granted");
        assert!(NodeLock::acquire(&name).await.unwrap().is_none(), "a held lock is refused");
        first.release();
        // The release settles the holder's promise; the lock is free once that has run.
        let mut again = None;
        for _ in 0..50 {
            again = NodeLock::acquire(&name).await.unwrap();
            if again.is_some() {
                break;
            }
        }
        assert!(again.is_some(), "released, it can be taken again");
    }
}
