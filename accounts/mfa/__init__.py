"""MFA (TOTP through django-otp, hashed backup codes) and the user's signed-in sessions."""
