"""What several test modules share: servers, browsers, media, waiting, and doubles of outside services."""
