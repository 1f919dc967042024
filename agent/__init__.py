"""The kiosk agent: card sessions, spending, vouchers and the offline queue on a terminal PC."""
