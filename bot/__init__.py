"""驻村通 core: configuration, domain models, services and the Telegram application factory."""
