//! The pure-ish heart of a scan: DNS → provider detection → score → sales summary, turned into a
//! [`ScanOutcome`] ready to store. Loaded once per daemon from config (rules and provider table are
//! data files, so scoring changes without a rebuild).

use super::store::{ScanOutcome, StoredDetection, StoredScore};
use crate::config::Config;
use crate::enrich::{AddressRole, EnrichmentReport, EnrichmentService};
use crate::partner_center::referral::CompanyReferrals;
use crate::provider::{self, ProviderTable};
use crate::scan::{ScanError, Scanner};
use crate::score::{self, Rules, ScoreInput};
use crate::whois::{WhoisClient, WhoisConfig};
use protocol::Registration;
use std::net::IpAddr;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Rules(#[from] score::RulesError),
    #[error(transparent)]
    Providers(#[from] provider::ProviderTableError),
    #[error("whois: {0}")]
    Whois(#[from] crate::whois::WhoisError),
}

pub struct Engine {
    pub scanner: Scanner,
    /// Registration lookups (run by the registration queue, never by a scan); `None` when
    /// `whois.enabled` is off.
    pub whois: Option<std::sync::Arc<WhoisClient>>,
    pub providers: ProviderTable,
    pub rules: Rules,
    /// Identifies which rules produced a score (the file, or `embedded`).
    pub rules_version: String,
    /// IP enrichment of the MX hosts; `None` when `features.ip_enrichment` is off. Never feeds the score.
    pub enrichment: Option<EnrichmentService>,
    /// Whose addresses are enriched (`enrichment.targets`).
    pub enrichment_targets: Vec<AddressRole>,
}

impl Engine {
    pub fn from_config(config: &Config, state_dir: &std::path::Path) -> Result<Engine, EngineError> {
        let scanner = Scanner::new(&config.scan)?;
        let whois = if config.whois.enabled {
            Some(std::sync::Arc::new(WhoisClient::new(WhoisConfig::from_settings(&config.whois, state_dir))?))
        } else {
            None
        };
        let providers = ProviderTable::load(config.rules.providers_file.as_deref())?;
        let rules = Rules::load(config.rules.file.as_deref())?;
        let rules_version = match &config.rules.file {
            Some(path) => format!("file:{}", path.display()),
            None => format!("embedded:{}", protocol::BUILD_VERSION),
        };
        let enrichment = config.features.ip_enrichment.then(|| EnrichmentService::open(&config.enrichment));
        if let Some(reason) = enrichment.as_ref().and_then(EnrichmentService::absent_reason) {
            tracing::warn!("IP enrichment is on but inactive: {reason}");
        }
        let enrichment_targets = config.enrichment.targets.clone();
        Ok(Engine { scanner, whois, providers, rules, rules_version, enrichment, enrichment_targets })
    }

    /// The domain's own and `www`'s addresses when enrichment wants them (looked up alongside the
    /// mail scan, so they add queries but no waiting).
    async fn web_addresses(&self, domain: &str) -> Vec<(IpAddr, AddressRole)> {
        if self.enrichment.is_none() {
            return Vec::new();
        }
        let lookup = |role: AddressRole, name: String| async move {
            if self.enrichment_targets.contains(&role) { self.scanner.addresses(&name).await } else { Vec::new() }
        };
        let (apex, www) = tokio::join!(
            lookup(AddressRole::Domain, domain.to_string()),
            lookup(AddressRole::Www, format!("www.{domain}"))
        );
        let apex = in_stable_order(&apex).map(|ip| (ip, AddressRole::Domain));
        apex.chain(in_stable_order(&www).map(|ip| (ip, AddressRole::Www))).collect()
    }

    /// Scans, detects and scores one domain. Never fails: DNS trouble is part of the outcome. Never
    /// asks a registry: `known_registration` is what the registration queue last learned (its expiry
    /// feeds the sales summary), and a missing one is queued by the store, not awaited here.
    pub async fn evaluate(
        &self,
        company_id: i64,
        domain: &str,
        known_registration: Option<Registration>,
    ) -> ScanOutcome {
        self.evaluate_with(company_id, domain, known_registration, &CompanyReferrals::default()).await
    }

    /// [`evaluate`](Self::evaluate) for a company with Partner Center referrals: their kinds feed the
    /// `referral_in` rules (the co-sell bonus), and a known customer Entra tenant makes the provider
    /// M365 (engine.md §9.9), with the referral as its evidence.
    pub async fn evaluate_with(
        &self,
        company_id: i64,
        domain: &str,
        known_registration: Option<Registration>,
        referrals: &CompanyReferrals,
    ) -> ScanOutcome {
        let started_at = chrono::Utc::now();
        let clock = Instant::now();
        let registration = known_registration;
        let (scan, web_addresses) = tokio::join!(self.scanner.scan(domain), self.web_addresses(domain));
        let expires_at = registration
            .as_ref()
            .and_then(|r| r.expires.as_deref())
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let mut detection = provider::detect(&scan, &self.providers);
        if let Some(tenant) = &referrals.customer_tenant
            && detection.provider != "M365"
        {
            detection.evidence.push(provider::Evidence {
                claim: format!("provider M365 (was {}): the customer's Entra tenant is known", detection.provider),
                source: provider::EvidenceSource::PartnerCenter,
                record: format!("Partner Center referral: customer tenant {tenant}"),
            });
            detection.provider = "M365".into();
        }
        let input = ScoreInput { referrals: &referrals.kinds, ..ScoreInput::from_scan(&scan, &detection) };
        let outcome = score::score(&input, &self.rules);
        let enrichment = match &self.enrichment {
            Some(service) => {
                let mut addresses: Vec<(IpAddr, AddressRole)> = Vec::new();
                if self.enrichment_targets.contains(&AddressRole::Mail) {
                    for host in &scan.mx {
                        addresses.extend(in_stable_order(&host.addresses).map(|ip| (ip, AddressRole::Mail)));
                    }
                }
                addresses.extend(web_addresses);
                service.enrich(&addresses).await
            }
            None => EnrichmentReport::absent("IP enrichment is off (features.ip_enrichment)"),
        };
        let sales = score::sales_summary(
            &score::SalesInput {
                domain: scan.domain.clone(),
                provider: Some(detection.provider.clone()),
                segment: Some(outcome.segment.clone()),
                score: Some(outcome.score),
                tenant_size: detection.tenant_size,
                local_provider: detection.local_provider.clone(),
                mx_root: detection.mx_root.clone(),
                spf: Some(scan.spf.counts_as_in_place()),
                dkim: Some(scan.has_dkim()),
                dmarc_policy: scan.dmarc.as_ref().map(|d| d.policy),
                dmarc_coverage: scan.dmarc.as_ref().map(|d| d.pct),
                expires_at,
                ip_context: enrichment.ip_context(),
                infrastructure_summary: enrichment.infrastructure_summary.clone(),
                contact_quality_score: None,
                today: started_at.date_naive(),
            },
            &self.rules,
        );
        ScanOutcome {
            company_id,
            detection: stored_detection(&detection),
            score: StoredScore {
                score: outcome.score,
                segment: outcome.segment.clone(),
                reason: outcome.reason.clone(),
                commercial_segment: Some(outcome.commercial_segment.clone()),
                technical_heat: Some(outcome.technical_heat.clone()),
                commercial_heat: Some(outcome.commercial_heat.clone()),
                priority: Some(outcome.priority.clone()),
                priority_label: Some(outcome.priority_label.clone()),
                legacy_priority: Some(i16::from(outcome.legacy_priority)),
                breakdown: outcome
                    .breakdown
                    .iter()
                    .map(|c| protocol::Contribution { key: c.key.clone(), points: c.points, reason: c.reason.clone() })
                    .collect(),
                sales_summary: Some(summary_view(&sales)),
                rules_version: self.rules_version.clone(),
            },
            scan,
            registration,
            registration_due: false,
            enrichment: Some(enrichment),
            started_at,
            duration_ms: i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX),
        }
    }
}

/// A host's addresses sorted: DNS servers rotate the order of answers, and the summary and headline
/// address must not change between scans because of it.
fn in_stable_order(addresses: &[IpAddr]) -> impl Iterator<Item = IpAddr> {
    let mut sorted = addresses.to_vec();
    sorted.sort();
    sorted.into_iter()
}

fn stored_detection(d: &provider::Detection) -> StoredDetection {
    StoredDetection {
        provider: d.provider.clone(),
        gateway: d.gateway.clone(),
        local_provider: d.local_provider.clone(),
        mx_root: d.mx_root.clone(),
        tenant_size: d.tenant_size.map(|t| t.as_str().to_string()),
        evidence: d
            .evidence
            .iter()
            .map(|e| protocol::Evidence { claim: e.claim.clone(), source: e.record.clone() })
            .collect(),
    }
}

/// The salesperson's view the TUI shows.
fn summary_view(s: &score::SalesSummary) -> protocol::SalesSummary {
    protocol::SalesSummary {
        one_liner: s.one_liner.clone(),
        segment_explanation: s.segment_explanation.clone(),
        provider_reasoning: s.provider_reasoning.clone(),
        risk_level: s.security_reasoning.as_ref().map(|r| r.risk_level.as_str().to_string()),
        risk_text: s.security_reasoning.as_ref().map(|r| {
            let mut text = r.summary.clone();
            if !r.recommended_action.is_empty() {
                text.push_str(" — ");
                text.push_str(&r.recommended_action);
            }
            text
        }),
        talking_points: s.call_script.clone(),
        discovery_questions: s.discovery_questions.clone(),
        offer: format!("{} ({})", s.offer_tier.tier, s.offer_tier.recommendation),
        opportunity: u8::try_from(s.opportunity_potential.min(100)).unwrap_or(100),
        urgency: s.urgency.as_str().to_string(),
        next_step: format!(
            "{} {}: {}",
            format!("{:?}", s.next_step.action).to_lowercase(),
            s.next_step.timeline.label(),
            s.next_step.message
        ),
    }
}
