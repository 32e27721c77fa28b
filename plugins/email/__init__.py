"""placeholder"""

class EmailNotifier:
    pass
