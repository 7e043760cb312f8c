"""The inbox's forms: the list filters and the reply composer."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from inbox.api.filters import MAX_SEARCH_LENGTH
from inbox.choices import ConversationStatus, Platform


class FilterForm(forms.Form):
    """The list's filters (GET). The channel is checked against the user's visible channels
    by the view, which has them at hand already (no query of its own)."""

    channel = forms.IntegerField(required=False, min_value=1)
    platform = forms.ChoiceField(
        required=False, choices=[("", "All platforms"), *[(p.value, p.value) for p in Platform]]
    )
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            (ConversationStatus.OPEN.value, "Open"),
            (ConversationStatus.CLOSED.value, "Closed"),
        ],
    )
    unread = forms.BooleanField(required=False)
    q = forms.CharField(required=False, max_length=MAX_SEARCH_LENGTH, strip=True)

    def filters(self) -> dict[str, Any]:
        """The valid filters (an invalid one is ignored, as if it were not given)."""
        self.is_valid()
        return {
            name: self.cleaned_data[name]
            for name in self.fields
            if name in self.cleaned_data and self.cleaned_data[name] not in (None, "", False)
        }


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class ReplyForm(forms.Form):
    text = forms.CharField(
        label="Reply", required=False, max_length=50_000, strip=False, widget=forms.Textarea
    )
    subject = forms.CharField(label="Subject", required=False, max_length=300)
    # Not "files": a form's ``files`` are its uploads.
    attachments = MultipleFileField(label="Attach files", required=False)
    # One key per composer as rendered: submitting it twice sends once (send_reply).
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", str(uuid.uuid4()))
        super().__init__(*args, **kwargs)
