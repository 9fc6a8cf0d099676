// The operator's page: asks for the admin token once (kept in this tab's session
// storage), then shows the overview (refreshed every five seconds), finds a person, kicks
// and bans, and lists the audit log. Everything goes through /api/admin/*.
"use strict";

const KEY = "chat-admin-token";
const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(KEY);
}

function say(text) {
  $("alert").textContent = text || "";
}

async function call(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (r.status === 401) {
    sessionStorage.removeItem(KEY);
    show();
    throw new Error("That token is wrong.");
  }
  if (r.status === 429) throw new Error("Too many wrong tokens from here: wait a minute.");
  const json = await r.json().catch(() => ({}));
  if (r.status === 404) throw new Error("Not found (nobody of that nick there, or no admin API on this server).");
  if (!r.ok) throw new Error(json.message || ("The server answered " + r.status + "."));
  return json;
}

function rows(tbody, items, cells) {
  tbody.replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      for (const value of cells(item)) {
        const td = document.createElement("td");
        td.textContent = value == null ? "" : String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function refresh() {
  if (!token()) return;
  try {
    const o = await call("GET", "/api/admin/overview");
    $("connections").textContent = o.connections;
    $("node-count").textContent = o.nodes.length;
    rows($("nodes"), o.nodes, (n) => [n.id, n.connections]);
    rows($("rooms"), o.rooms, (r) => [r.name, r.members, r.private ? "yes" : ""]);
    $("fresh").textContent = "at " + new Date().toLocaleTimeString();
    const a = await call("GET", "/api/admin/audit");
    rows($("audit"), a.entries, (e) => [new Date(e.ts).toLocaleString(), e.who, e.client, e.action + (e.id ? " #" + e.id : ""), e.nick, e.room, e.minutes]);
  } catch (e) {
    say(e.message);
  }
}

async function find(ev) {
  ev.preventDefault();
  const nick = $("find-nick").value.trim();
  try {
    const p = await call("GET", "/api/admin/person?nick=" + encodeURIComponent(nick));
    $("found").textContent = p.nick + (p.here ? " (on this node)" : " (on another node)") + ": rooms " + (p.rooms.join(", ") || "none");
    $("act-nick").value = p.nick;
    say("");
  } catch (e) {
    $("found").textContent = "";
    say(e.message);
  }
}

async function act(action) {
  const nick = $("act-nick").value.trim();
  const room = $("act-room").value.trim();
  if (!nick) return say("Name the person first.");
  const body = { nick };
  if (room) body.room = room;
  if (action === "ban") body.minutes = Number($("act-minutes").value);
  const what = action === "ban" ? "Ban " + nick + " for " + body.minutes + " minutes" : "Kick " + nick;
  if (!confirm(what + (room ? " from " + room : " from the server") + "?")) return;
  try {
    await call("POST", "/api/admin/" + action, body);
    say((action === "ban" ? "Banned " : "Kicked ") + nick + ".");
    refresh();
  } catch (e) {
    say(e.message);
  }
}

async function deleteMessage(ev) {
  ev.preventDefault();
  const room = $("delete-room").value.trim();
  const id = Number($("delete-id").value);
  if (!room || !id) return say("Name the room and the message's number first.");
  if (!confirm("Delete message " + id + " of " + room + " for everyone?")) return;
  try {
    await call("POST", "/api/admin/delete", { room, id });
    say("Deleted message " + id + " of " + room + ".");
    refresh();
  } catch (e) {
    say(e.message);
  }
}

function show() {
  const known = Boolean(token());
  $("login").hidden = known;
  $("main").hidden = !known;
  $("forget").hidden = !known;
  if (known) refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("token").value);
    $("token").value = "";
    say("");
    show();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    show();
  });
  $("find").addEventListener("submit", find);
  $("kick").addEventListener("click", () => act("kick"));
  $("ban").addEventListener("click", () => act("ban"));
  $("delete").addEventListener("submit", deleteMessage);
  setInterval(refresh, 5000);
  show();
});
