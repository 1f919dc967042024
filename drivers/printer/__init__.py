"""Receipt printers (python-escpos) driven by firmware-config printer profiles."""

from drivers.printer.errors import PrinterError
from drivers.printer.escpos_device import (
    Connection,
    ReceiptPrinter,
    open_printer,
    parse_connection,
    print_test_page,
)

__all__ = [
    "Connection",
    "PrinterError",
    "ReceiptPrinter",
    "open_printer",
    "parse_connection",
    "print_test_page",
]
