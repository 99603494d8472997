"""Who is signed in, what they may see, and the record of what they did.

Sign-in checks the users file (`toning users`) with streamlit-authenticator: its bcrypt check,
and its signed cookie so a reload keeps the session (for COOKIE_EXPIRY_DAYS). The user is read
again from the users file on every run, so removing a user or changing their clinics takes effect
at their next click. Failed sign-ins are slowed, and a name that fails FAILURES_BEFORE_LOCKOUT
times is locked out for LOCKOUT_MINUTES; every attempt is in the audit log.

The clinic scope comes from here, never from a widget: the data module narrows every query to
`clinic_scope()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

import streamlit as st
import streamlit_authenticator as stauth
from streamlit.runtime.scriptrunner import get_script_run_ctx

from toning import audit, config, users
from toning.users import MANAGER, User

COOKIE_NAME = "toning_sign_in"
COOKIE_EXPIRY_DAYS = 1.0
FAILURES_BEFORE_LOCKOUT = 5
LOCKOUT_MINUTES = 15
FAILED_SIGN_IN_DELAY_S = 1.0
SESSION_USER = "toning_user"
SESSION_FILTERS = "toning_page_filters"
SESSION_AUTHENTICATOR = "toning_authenticator"
SESSION_LAST_VIEW = "toning_last_page_view"
# Re-identification is for the people who call patients back: a clinic's manager.
MAY_REIDENTIFY = (MANAGER,)


class NotAllowed(Exception):
    """The signed-in user's role does not reach this data; the message says so."""


@dataclass
class SignInThrottle:
    """Failed sign-ins per name, shared by every session of this server."""

    failures: dict[str, int] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seconds_locked(self, name: str) -> float:
        with self.lock:
            return max(0.0, self.locked_until.get(name, 0.0) - time.monotonic())

    def failed(self, name: str) -> bool:
        """Counts a failure; True when it locks the name out."""
        with self.lock:
            self.failures[name] = self.failures.get(name, 0) + 1
            if self.failures[name] < FAILURES_BEFORE_LOCKOUT:
                return False
            self.failures[name] = 0
            self.locked_until[name] = time.monotonic() + LOCKOUT_MINUTES * 60
            return True

    def succeeded(self, name: str) -> None:
        with self.lock:
            self.failures.pop(name, None)


@st.cache_resource
def _throttle() -> SignInThrottle:
    return SignInThrottle()


def record(event: str, **details: object) -> None:
    """An audit event by the signed-in user (or by nobody yet, for a failed sign-in)."""
    user = current_user()
    audit.record(
        config.data_dir().audit_log,
        event,
        user.name if user else details.pop("name", None),
        role=user.role if user else None,
        **details,
    )


def _authenticator(registry: dict[str, User]) -> stauth.Authenticate:
    data = config.data_dir()
    credentials = {
        "usernames": {
            user.name: {"name": user.name, "password": user.password_hash, "roles": [user.role]}
            for user in registry.values()
        }
    }
    return stauth.Authenticate(
        credentials,
        COOKIE_NAME,
        users.cookie_key(data.cookie_key_file),
        COOKIE_EXPIRY_DAYS,
        auto_hash=False,
    )


def session_of(name: str) -> dict[str, object]:
    """What a sign-in leaves in the session state (for AppTest runs: the bench, the tests)."""
    return {"authentication_status": True, "username": name}


def signed_in_user() -> User | None:
    """The signed-in user, or None after showing the sign-in form (the page stops there)."""
    registry = users.load(config.data_dir().users_file)
    authenticator = _authenticator(registry)
    # One per run: its cookie component may be drawn only once (sign-out uses this one).
    st.session_state[SESSION_AUTHENTICATOR] = authenticator
    name = (
        st.session_state.get("username") if st.session_state.get("authentication_status") else None
    )
    if name is None:
        token = authenticator.cookie_controller.get_cookie()
        if token and token.get("username") in registry:
            authenticator.authentication_controller.login(token=token)
            name = token["username"]
    user = registry.get(name) if name else None
    if name and user is None:  # removed from the users file since signing in
        authenticator.logout(location="unrendered")
        st.warning("Your account no longer exists: ask an admin if you still need access.")
    st.session_state[SESSION_USER] = user
    if user is None:
        form = st.empty()
        with form.container():
            user = _sign_in_form(authenticator, registry)
        if user is not None:
            form.empty()
            # Outside the emptied form, and no rerun: the cookie component must reach the page.
            authenticator.cookie_controller.set_cookie()
    return user


def _sign_in_form(authenticator: stauth.Authenticate, registry: dict[str, User]) -> User | None:
    st.title("Laser toning outcomes")
    if not registry:
        st.warning(
            "No one may sign in yet: an admin adds users with "
            "`toning users add NAME --role manager|analyst|admin`."
        )
        return None
    with st.form("sign_in"):
        st.subheader("Sign in")
        name = st.text_input("User name", key="sign_in_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", icon=":material/login:")
    if not submitted or not name:
        return None
    name = name.strip().lower()
    throttle = _throttle()
    locked = throttle.seconds_locked(name)
    if locked:
        record(audit.SIGN_IN_LOCKED, name=name)
        st.error(
            f"Too many failed sign-ins for {name}: try again in {locked / 60:.0f} minutes, "
            "or ask an admin to reset the password."
        )
        return None
    if authenticator.authentication_controller.login(name, password):
        throttle.succeeded(name)
        st.session_state[SESSION_USER] = registry[name]
        record(audit.SIGN_IN)
        return registry[name]
    now_locked = throttle.failed(name)
    record(audit.SIGN_IN_FAILED, name=name, locked_out=now_locked)
    time.sleep(FAILED_SIGN_IN_DELAY_S)  # slows guessing, without telling which part was wrong
    st.error("Wrong user name or password.")
    return None


def sign_out_button(user: User) -> None:
    scope = ", ".join(user.clinics) if user.clinics else "all clinics"
    st.sidebar.caption(f"Signed in as **{user.name}** ({user.role}, {scope})")
    if st.sidebar.button("Sign out", icon=":material/logout:", key="sign_out"):
        record(audit.SIGN_OUT)
        authenticator = st.session_state[SESSION_AUTHENTICATOR]
        authenticator.logout(location="unrendered")  # also deletes the sign-in cookie
        st.session_state[SESSION_USER] = None
        # No rerun: this run must end for the cookie's deletion to reach the browser.
        st.info("You are signed out.", icon=":material/logout:")
        st.stop()


def current_user() -> User | None:
    """The signed-in user of this Streamlit session (None outside one, or before sign-in)."""
    if get_script_run_ctx() is None:
        return None
    return st.session_state.get(SESSION_USER)


def clinic_scope() -> tuple[str, ...] | None:
    """The clinics the current user may see; None means every clinic. Code called outside a
    Streamlit session (scripts, tests of the data module) is not scoped; inside one, nobody
    signed in sees no clinic."""
    if get_script_run_ctx() is None:
        return None
    user = current_user()
    return () if user is None else user.clinic_scope


def require(roles: tuple[str, ...], what: str) -> User | None:
    """Stops a data request the current user's role does not reach (outside a session: allowed)."""
    if get_script_run_ctx() is None:
        return None
    user = current_user()
    if user is None or user.role not in roles:
        raise NotAllowed(f"{what} is for {' and '.join(f'{role}s' for role in roles)} only.")
    return user


def may_reidentify(clinic_id: str) -> bool:
    """Whether the signed-in user may see this clinic's patients' record numbers."""
    user = current_user()
    return user is not None and user.role in MAY_REIDENTIFY and clinic_id in user.clinics


def record_download(file_name: str, rows: int) -> None:
    """A download button's click (its bytes were sent with the page)."""
    record(audit.DOWNLOAD, file=file_name, rows=rows)


def record_query(sql: str, error: str | None, rows: int) -> None:
    record(audit.SQL, sql=sql, error=error, rows=rows)


def note_filters(filters: object) -> None:
    """The filters (a dataclass) this run of the page applied, for its audit event."""
    st.session_state[SESSION_FILTERS] = asdict(filters)


def record_page(title: str) -> None:
    """A page view with its filters; a rerun showing the same page with the same filters (a
    component reporting back, a chart redrawn) is the same view, recorded once."""
    view = {"page": title, "filters": st.session_state.pop(SESSION_FILTERS, None)}
    if st.session_state.get(SESSION_LAST_VIEW) != view:
        st.session_state[SESSION_LAST_VIEW] = view
        record(audit.PAGE, **view)
