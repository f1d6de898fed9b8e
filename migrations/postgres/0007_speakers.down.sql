DROP TABLE voiceprint_features;
DROP TABLE speakers;
