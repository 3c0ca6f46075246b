"""The fields of a stored set of X API keys, apart from the code that stores them, so that the
command line can name them without loading SQLAlchemy and cryptography (~0.5 s of CPU at every
start of ``tweetfeed``, the listener's included)."""

SECRET_FIELDS = ("bearer_token", "api_key", "api_secret", "access_token", "access_token_secret")
