"""Sandboxes of the outside world we cannot reach from here: the bank's ACH network, a card
processor, an SMS provider and a mail catcher. Each behaves like the real counterpart (its
own API and files) and is named a sandbox; the running system has no other stand-ins."""
