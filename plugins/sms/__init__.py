"""placeholder"""

class SmsNotifier:
    pass
