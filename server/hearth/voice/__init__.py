"""The voice loop: speech in, a reply spoken back, and what it takes to talk over it."""
