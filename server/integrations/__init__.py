"""Outside services a candidate meets: WeChat web authorisation (the candidate's avatar and a login offer)."""
