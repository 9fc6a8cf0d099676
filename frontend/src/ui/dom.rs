//! Parts of the page drawn with the DOM's own calls rather than `view!`, for views that
//! never change once drawn (a change draws them anew, in the same place): they need none
//! of the updating code that a `view!` compiles for each of its shapes, which costs the
//! wasm more than the few calls below. [`Drawn`] is the one view type of all of them. Text
//! goes into text nodes only, never into markup.

use leptos::tachys::html::attribute::{Attribute, any_attribute::AnyAttribute};
use leptos::tachys::hydration::Cursor;
use leptos::tachys::renderer::types::Event;
use leptos::tachys::renderer::{RemoveEventHandler, Rndr};
use leptos::tachys::view::add_attr::AddAnyAttr;
use leptos::tachys::view::{Mountable, Position, PositionState, Render, RenderHtml};
use web_sys::{Element, Node};

/// A view drawn by a function when it is rendered.
pub struct Drawn(Box<dyn FnOnce() -> Drawing + Send>);

impl Drawn {
    pub fn new(draw: impl FnOnce() -> Drawing + Send + 'static) -> Self {
        Self(Box::new(draw))
    }
}

/// What a drawing put in the page: its element, the siblings that follow it (most
/// drawings have none), and the listener it needs, if any (removed with the drawing).
pub struct Drawing {
    el: Element,
    more: Vec<Element>,
    /// Removed when the drawing is dropped.
    _listeners: Vec<RemoveEventHandler<Element>>,
}

impl Drawing {
    pub fn new(el: Element) -> Self {
        Self { el, more: Vec::new(), _listeners: Vec::new() }
    }

    /// Adds `sibling` after the elements drawn so far.
    pub fn then(mut self, sibling: Element) -> Self {
        self.more.push(sibling);
        self
    }

    /// Calls `on_click` on every click on `target` (the drawing's element or one inside
    /// it) for as long as the drawing is in the page.
    pub fn on_click(self, target: &Element, on_click: Box<dyn FnMut(Event)>) -> Self {
        self.on(target, "click", on_click)
    }

    /// Calls `f` on every `event` on `target` (any event target: the window too) for as
    /// long as the drawing is in the page.
    pub fn on(mut self, target: &Element, event: &str, f: Box<dyn FnMut(Event)>) -> Self {
        self._listeners.push(Rndr::add_event_listener(target, event, f));
        self
    }
}

/// A new `<tag>`, with `class` unless it is empty.
pub fn element(tag: &str, class: &str) -> Element {
    let el = Rndr::create_element(tag, None);
    if !class.is_empty() {
        Rndr::set_attribute(&el, "class", class);
    }
    el
}

/// A new `<tag>` at the end of `parent`, with `class` unless it is empty.
pub fn add_element(parent: &Element, tag: &str, class: &str) -> Element {
    let el = element(tag, class);
    Rndr::insert_node(parent, &el, None);
    el
}

/// A text node with `text` at the end of `parent`.
pub fn add_text(parent: &Element, text: &str) {
    Rndr::insert_node(parent, &Rndr::create_text_node(text), None);
}

pub fn set(el: &Element, name: &str, value: &str) {
    Rndr::set_attribute(el, name, value);
}

impl Render for Drawn {
    type State = Drawing;

    fn build(self) -> Drawing {
        (self.0)()
    }

    /// Draws anew, in the place of the old drawing.
    fn rebuild(self, state: &mut Drawing) {
        let mut new = (self.0)();
        if let Some(parent) = state.el.parent_element() {
            new.mount(&parent, Some(&state.el));
            state.unmount();
        }
        *state = new;
    }
}

impl RenderHtml for Drawn {
    type AsyncOutput = Self;
    type Owned = Self;

    const MIN_LENGTH: usize = 0;

    fn dry_resolve(&mut self) {}

    async fn resolve(self) -> Self {
        self
    }

    /// The app renders in the browser only: there is no server-side HTML of a drawing.
    fn to_html_with_buf(self, _: &mut String, _: &mut Position, _: bool, _: bool, _: Vec<AnyAttribute>) {}

    fn hydrate<const FROM_SERVER: bool>(self, _: &Cursor, _: &PositionState) -> Drawing {
        self.build()
    }

    fn into_owned(self) -> Self {
        self
    }
}

impl AddAnyAttr for Drawn {
    type Output<SomeNewAttr: Attribute> = Self;

    fn add_any_attr<NewAttr: Attribute>(self, _attr: NewAttr) -> Self {
        self
    }
}

impl Mountable for Drawing {
    fn unmount(&mut self) {
        Rndr::remove(&self.el);
        for el in &self.more {
            Rndr::remove(el);
        }
    }

    fn mount(&mut self, parent: &Element, marker: Option<&Node>) {
        Rndr::insert_node(parent, &self.el, marker);
        for el in &self.more {
            Rndr::insert_node(parent, el, marker);
        }
    }

    fn insert_before_this(&self, child: &mut dyn Mountable) -> bool {
        match self.el.parent_element() {
            Some(parent) => {
                child.mount(&parent, Some(&self.el));
                true
            }
            None => false,
        }
    }

    fn elements(&self) -> Vec<Element> {
        let mut all = vec![self.el.clone()];
        all.extend(self.more.iter().cloned());
        all
    }
}
